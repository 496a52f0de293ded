/// The console's stylesheet and script, served from the binary: no CDN, no font, no build step.
enum ConsoleAssets {
    static let css = """
        :root { color-scheme: light; --ink: #1b1f24; --muted: #57606a; --line: #d0d7de; --accent: #0072B2; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 15px/1.45 system-ui, sans-serif; color: var(--ink); background: #fff; }
        .skip { position: absolute; left: -999px; } .skip:focus { left: 8px; top: 8px; background: #fff; padding: 4px; }
        header { display: flex; flex-wrap: wrap; align-items: center; gap: 12px; padding: 8px 16px; border-bottom: 1px solid var(--line); }
        header .brand { font-weight: 700; text-decoration: none; color: var(--ink); }
        nav ul { display: flex; flex-wrap: wrap; gap: 4px 14px; list-style: none; margin: 0; padding: 0; }
        nav a[aria-current] { font-weight: 700; text-decoration: underline; }
        .signout { margin-left: auto; color: var(--muted); }
        main { padding: 8px 16px 32px; max-width: 1200px; }
        a { color: var(--accent); } a:focus, button:focus, input:focus, select:focus, tr.drill:focus { outline: 3px solid #E69F00; }
        table { border-collapse: collapse; margin: 8px 0 20px; min-width: 50%; }
        caption { text-align: left; font-weight: 600; padding: 4px 0; }
        th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: left; vertical-align: top; }
        th.num, td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
        td a { white-space: nowrap; }
        tr.drill { cursor: pointer; } tr.drill:hover { background: #f3f6f9; }
        .cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 8px 0 16px; }
        .card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; min-width: 180px; }
        .card .figure { font-size: 1.4em; font-variant-numeric: tabular-nums; }
        .notice { border-left: 4px solid #D55E00; padding: 6px 10px; background: #fff4ec; }
        .secret { font-family: monospace; font-size: 1.1em; background: #f3f6f9; padding: 6px; word-break: break-all; }
        form.inline { display: inline; } fieldset { border: 1px solid var(--line); margin: 8px 0 16px; }
        label { margin-right: 12px; } svg { max-width: 100%; height: auto; }
        .legend { display: flex; flex-wrap: wrap; gap: 4px 14px; list-style: none; padding: 0; }
        .swatch { display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: middle; }
        .warn { color: #a04000; font-weight: 600; } .ok { color: #00603d; }
        pre { background: #f6f8fa; padding: 8px; overflow-x: auto; }
        """ + swatches

    /// Legend swatches, one class per series colour (no inline style may set them).
    static let swatches = SVGChart.palette.enumerated().map { ".s\($0) { background: \($1); }" }.joined(separator: "\n")

    /// Rows with a drill-down open it on click or Enter; nothing else needs script.
    static let javascript = """
        document.addEventListener("DOMContentLoaded", function () {
          document.querySelectorAll("tr.drill").forEach(function (row) {
            row.tabIndex = 0;
            var go = function () { window.location.assign(row.dataset.href); };
            row.addEventListener("click", function (event) { if (event.target.tagName !== "A") { go(); } });
            row.addEventListener("keydown", function (event) { if (event.key === "Enter") { go(); } });
          });
        });
        """
}

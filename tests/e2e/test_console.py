"""The console in a real browser (headless Chromium driven by Selenium): a gateway seeded with a
month from the ledger generator plus live traffic from the openai SDK. Every page renders with no
console error and no failed or third-party request; the cost explorer's table is the CLI's report
to the nano-unit and drills down; keys are issued and revoked; a run's kill switch engages and is
audited; a tenant-admin sees only its tenant; a forged POST is refused. Screenshots of every page
are saved under the folder the module prints (SWITCHYARD_CONSOLE_SCREENSHOTS)."""

import json
import os
import re
import shutil
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import openai
import pytest
import requests
from openai import OpenAI
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By

from conftest import FaultUpstream, Gateway, fault_config, wait_until

ADMIN_KEY = "sk-admin-console-tests-0123456789"
SCREENSHOTS = Path(os.environ.get("SWITCHYARD_CONSOLE_SCREENSHOTS", "/tmp/switchyard-console-screenshots"))
PAGES = ["/console", "/console/costs", "/console/costs/unit", "/console/budgets", "/console/providers", "/console/incidents", "/console/runs",
         "/console/keys", "/console/audit", "/console/config"]
SINCE, UNTIL = "2026-11-01", "2026-12-01"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("console")
    upstream = FaultUpstream(tmp)
    body = "admin:\n  key_env: SWITCHYARD_ADMIN_KEY\n" + fault_config(upstream.base_url, """budgets:
  - name: acme-monthly
    scope: tenant:acme
    period: month
    limit: "50.00"
    currency: USD
    alert_at: [0.5, 0.8]
""")
    gateway = Gateway(tmp / "gateway", body=body, env={"SWITCHYARD_ADMIN_KEY": ADMIN_KEY})
    try:
        gateway.cli("ledger", "generate", "--month", "2026-11", "--records", "20000")
        bot = gateway.cli("keys", "create", "--tenant", "acme", "--agent", "checkout-bot").strip()
        acme = OpenAI(base_url=gateway.base_url, api_key=bot, max_retries=0)
        for _ in range(3):
            acme.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hello"}], max_tokens=5,
                                         extra_headers={"x-switchyard-run": "run-console-42"})
        globex = OpenAI(base_url=gateway.base_url, api_key=gateway.keys["globex"], max_retries=0)
        for _ in range(2):
            globex.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}], max_tokens=5,
                                           extra_headers={"x-switchyard-run": "globex-private-run"})
        tenant_admin = admin_key(gateway, "tenant-admin", "acme")
        viewer = admin_key(gateway, "viewer", None)
        shutil.rmtree(SCREENSHOTS, ignore_errors=True)
        SCREENSHOTS.mkdir(parents=True)
        print(f"\nconsole screenshots: {SCREENSHOTS}")
        yield {"gateway": gateway, "bot": bot, "tenant_admin": tenant_admin, "viewer": viewer, "upstream": upstream}
    finally:
        gateway.stop()
        upstream.stop()


def admin_key(gateway, role, tenant):
    args = ["admin-keys", "create", "--role", role] + (["--tenant", tenant] if tenant else [])
    return re.search(r"sya-\S+", gateway.cli(*args)).group(0)


class Browser:
    """Headless Chromium with its console and network logs, signed in with an admin key."""

    def __init__(self, gateway, key):
        options = Options()
        options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                         "--window-size=1280,1100", "--no-first-run", "--disable-background-networking"):
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        self.driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
                                       options=options)
        self.driver.set_page_load_timeout(60)
        self.origin = f"http://127.0.0.1:{gateway.port}"
        self.open("/console/login")
        self.driver.find_element(By.ID, "key").send_keys(key)
        self.driver.find_element(By.CSS_SELECTOR, "form[action='/console/login'] button").click()
        wait_until(lambda: urlparse(self.driver.current_url).path == "/console", timeout=30, what="signed in")
        self.problems()  # the sign-in's own requests

    def open(self, path):
        self.driver.get(self.origin + path)

    def text(self):
        return self.driver.find_element(By.TAG_NAME, "body").text

    def problems(self):
        """Console errors, failed requests and requests to anywhere but the gateway, since last asked."""
        found = [entry["message"] for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"]
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.loadingFailed" and not message["params"].get("canceled"):
                found.append(f"failed: {message['params'].get('errorText')}")
            if message["method"] == "Network.requestWillBeSent":
                url = message["params"]["request"]["url"]
                if not (url.startswith(self.origin) or url.startswith("data:")):
                    found.append(f"third-party request: {url}")
            if message["method"] == "Network.responseReceived":
                response = message["params"]["response"]
                if response["status"] >= 400:
                    found.append(f"{response['status']} {response['url']}")
        return found

    def session(self):
        """A requests session carrying the browser's session cookie."""
        session = requests.Session()
        for cookie in self.driver.get_cookies():
            session.cookies.set(cookie["name"], cookie["value"])
        return session

    def table(self, table_id):
        """The table's cells; [] while the page is being replaced (a form's answer loading)."""
        try:
            return self.driver.execute_script(
                "return Array.from(document.querySelectorAll(arguments[0])).map("
                "row => Array.from(row.cells).map(cell => cell.innerText.trim()))", f"#{table_id} tbody tr")
        except StaleElementReferenceException:
            return []

    def close(self):
        self.driver.quit()


@pytest.fixture
def admin(seeded):
    browser = Browser(seeded["gateway"], ADMIN_KEY)
    yield browser
    browser.close()


def test_every_page_renders_with_no_error_and_nothing_from_elsewhere(seeded, admin):
    cookie = next(c for c in admin.driver.get_cookies() if c["name"] == "switchyard_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console", cookie
    for path in PAGES:
        admin.open(path)
        assert admin.problems() == [], path
        assert "Refused" not in admin.driver.title and "Not found" not in admin.driver.title, path
        admin.driver.save_screenshot(str(SCREENSHOTS / f"{path.strip('/').replace('/', '-')}.png"))
    policy = requests.get(admin.origin + "/console/login", timeout=10).headers["Content-Security-Policy"]
    assert "unsafe-inline" not in policy and "script-src 'self'" in policy, policy
    # The overview's charts: the month's spend and its forecast.
    admin.open("/console")
    chart = admin.driver.find_element(By.CSS_SELECTOR, "svg.chart")
    assert chart.get_attribute("data-series") == "spend to date|spend (forecast)"
    assert admin.driver.find_element(By.ID, "requests").text.split()[-1] != "0"
    admin.open("/console/budgets")
    budgets = admin.table("budgets")
    assert budgets and budgets[0][0] == "acme-monthly" and budgets[0][7] == "0.5,0.8", budgets


def test_the_cost_explorer_is_the_cli_report_to_the_nano_unit_and_drills_down(seeded, admin):
    gateway = seeded["gateway"]
    admin.open(f"/console/costs?by=tenant&bucket=day&since={SINCE}&until={UNTIL}")
    assert admin.problems() == []
    admin.driver.save_screenshot(str(SCREENSHOTS / "console-costs-november.png"))
    cli = json.loads(gateway.cli("report", "cost", "--by", "tenant", "--bucket", "day", "--since", SINCE, "--until",
                                 UNTIL, "--format", "json"))
    columns = ["tenant", "day", "requests", "errors", "input_tokens", "output_tokens", "usage_cost", "capacity_cost",
               "cost", "currency"]
    shown = admin.table("cost-table")
    assert len(shown) == len(cli) > 30
    assert shown == [[row[c] or "" for c in columns] for row in cli]
    # The chart's series are the tenants, each a group of bars.
    tenants = sorted({row["tenant"] for row in cli})
    chart = admin.driver.find_element(By.CSS_SELECTOR, "svg.chart")
    assert sorted(chart.get_attribute("data-series").split("|")) == tenants
    assert len(chart.find_elements(By.CSS_SELECTOR, "g.series rect")) == len(cli)
    # The CSV is the CLI's CSV.
    csv = admin.session().get(admin.origin + f"/console/costs.csv?by=tenant&bucket=day&since={SINCE}&until={UNTIL}",
                              timeout=30)
    assert csv.status_code == 200 and "attachment" in csv.headers["Content-Disposition"]
    assert csv.text == gateway.cli("report", "cost", "--by", "tenant", "--bucket", "day", "--since", SINCE, "--until",
                                   UNTIL, "--format", "csv")
    # Drill-down: a row opens its day by hour, again the CLI's report for that range.
    day = shown[3][1]
    admin.driver.find_elements(By.CSS_SELECTOR, "#cost-table tbody tr.drill")[3].click()
    wait_until(lambda: "bucket=hour" in admin.driver.current_url, timeout=30, what="the drill-down")
    query = parse_qs(urlparse(admin.driver.current_url).query)
    assert query["since"] == [day] and query["bucket"] == ["hour"]
    hourly = json.loads(gateway.cli("report", "cost", "--by", "tenant", "--bucket", "hour", "--since", query["since"][0],
                                    "--until", query["until"][0], "--format", "json"))
    assert admin.table("cost-table") == [[row[c.replace("day", "hour")] or "" for c in columns] for row in hourly]
    # An hourly month is paged, 500 rows a page; page 2 is the CLI's rows 500 to 999.
    admin.open(f"/console/costs?by=tenant&bucket=hour&since={SINCE}&until={UNTIL}&page=2")
    hours = json.loads(gateway.cli("report", "cost", "--by", "tenant", "--bucket", "hour", "--since", SINCE, "--until",
                                   UNTIL, "--format", "json"))
    assert len(hours) > 1000
    assert admin.table("cost-table") == [[row[c.replace("day", "hour")] or "" for c in columns] for row in hours[500:1000]]
    assert f"Rows 501–1000 of {len(hours)}" in admin.text()
    # And a bar drills down the same way.
    admin.open(f"/console/costs?by=tenant&bucket=month&since={SINCE}&until={UNTIL}")
    admin.driver.find_element(By.CSS_SELECTOR, "svg.chart a rect").click()
    wait_until(lambda: "bucket=day" in admin.driver.current_url, timeout=30, what="the bar's drill-down")
    assert parse_qs(urlparse(admin.driver.current_url).query)["since"] == ["2026-11-01T00:00:00Z"]
    assert admin.problems() == []


def test_a_key_is_issued_once_and_revoked(seeded, admin):
    gateway = seeded["gateway"]
    admin.open("/console/keys?tenant=acme")
    admin.driver.find_element(By.NAME, "agent").send_keys("console-bot")
    admin.driver.find_element(By.ID, "create-key").click()
    secret = wait_until(lambda: admin.driver.find_elements(By.ID, "new-key-secret"), timeout=30,
                        what="the new key")[0].text
    assert secret.startswith("sk-")
    client = OpenAI(base_url=gateway.base_url, api_key=secret, max_retries=0)
    client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}], max_tokens=5)
    # Shown once: the list never has it again.
    admin.open("/console/keys?tenant=acme")
    assert secret not in admin.driver.page_source
    key_id = next(row[0] for row in admin.table("keys") if row[2] == "console-bot")
    admin.driver.find_element(By.CSS_SELECTOR, f"form[action='/console/keys/{key_id}/revoke'] button").click()
    wait_until(lambda: any(row[0] == key_id and row[3] == "revoked" for row in admin.table("keys")), timeout=30,
               what="the key revoked")

    def refused():
        try:
            client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}], max_tokens=5)
            return False
        except openai.AuthenticationError:
            return True

    # (A running server refuses a revoked key within 2 seconds: README, Keys.)
    wait_until(refused, timeout=10, interval=0.25, what="the revoked key refused")
    assert admin.problems() == []


def test_a_runs_kill_switch_engages_and_shows_in_the_audit_log(seeded, admin):
    gateway = seeded["gateway"]
    admin.open("/console/runs?tenant=acme")
    row = next(r for r in admin.driver.find_elements(By.CSS_SELECTOR, "#runs tbody tr")
               if r.find_elements(By.TAG_NAME, "td")[0].text == "run-console-42")
    row.find_element(By.NAME, "reason").send_keys("looping on checkout")
    row.find_element(By.CSS_SELECTOR, "button").click()
    wait_until(lambda: any(r[0] == "run-console-42" and r[9].startswith("stopped") for r in admin.table("runs")),
               timeout=30, what="the run stopped")
    client = OpenAI(base_url=gateway.base_url, api_key=seeded["bot"], max_retries=0)
    with pytest.raises(openai.APIStatusError):
        client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "again"}], max_tokens=5,
                                       extra_headers={"x-switchyard-run": "run-console-42"})
    admin.open("/console/audit?tenant=acme&action=kill")
    entries = admin.table("audit")
    assert any("run:acme/run-console-42" in " ".join(entry) and "looping on checkout" in " ".join(entry)
               for entry in entries), entries
    admin.open("/console/audit?verify=1")
    assert admin.driver.find_element(By.ID, "audit-verification").text.startswith("intact")
    assert admin.problems() == []


def test_a_tenant_admin_sees_only_its_tenant(seeded):
    browser = Browser(seeded["gateway"], seeded["tenant_admin"])
    try:
        links = [a.get_attribute("href") for a in browser.driver.find_elements(By.CSS_SELECTOR, "nav a")]
        assert not any(page in " ".join(links) for page in ("/console/providers", "/console/incidents",
                                                              "/console/config")), links
        for path in PAGES:
            browser.open(path)
            assert "globex" not in browser.driver.page_source, path
        for path in ("/console/keys?tenant=globex", "/console/runs?tenant=globex", "/console/audit?tenant=globex"):
            browser.open(path)
            assert "No such tenant" in browser.text() and "globex-private-run" not in browser.driver.page_source, path
        session = browser.session()
        for path in ("/console/providers", "/console/incidents", "/console/config", "/console/keys?tenant=globex"):
            assert session.get(browser.origin + path, timeout=10).status_code == 404, path
        browser.open("/console/costs?by=tenant&bucket=month&since=2026-11-01&until=2026-12-08")
        assert {row[0] for row in browser.table("cost-table")} == {"acme"}
        browser.driver.save_screenshot(str(SCREENSHOTS / "tenant-admin-costs.png"))
    finally:
        browser.close()


def test_a_forged_post_and_a_viewers_change_are_refused(seeded, admin):
    gateway = seeded["gateway"]
    before = gateway.cli("keys", "list", "--tenant", "acme")
    session = admin.session()
    for data in ({"tenant": "acme", "agent": "forged"}, {"tenant": "acme", "agent": "forged", "csrf": "0" * 64}):
        response = session.post(admin.origin + "/console/keys", data=data, timeout=10, allow_redirects=False)
        assert response.status_code == 403 and "CSRF" in response.text
    assert session.post(admin.origin + "/console/login", data={"key": ADMIN_KEY}, timeout=10).status_code == 403
    viewer = Browser(gateway, seeded["viewer"])
    try:
        viewer.open("/console/keys?tenant=acme")
        forms = viewer.driver.find_elements(By.CSS_SELECTOR, "form[method='post']")
        assert [f.get_attribute("action") for f in forms] == [viewer.origin + "/console/logout"]
        viewer.open("/console/runs?tenant=acme")
        assert not viewer.driver.find_elements(By.NAME, "reason")
        csrf = viewer.driver.find_element(By.CSS_SELECTOR, "form[action='/console/logout'] input[name='csrf']")
        response = viewer.session().post(
            viewer.origin + "/console/keys", data={"tenant": "acme", "agent": "viewer", "csrf": csrf.get_attribute("value")},
            timeout=10, allow_redirects=False)
        assert response.status_code == 403
    finally:
        viewer.close()
    assert gateway.cli("keys", "list", "--tenant", "acme") == before

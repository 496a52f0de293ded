// Probes: canary-fact probes of long-context recall, and what they show.
//
// Owns the probe texts (`CanaryPrompt`), their grading (`RecallGrader`), a round's results and
// its quality score (`ProbeRound`, `QualityCurve`), the drift signals between rounds
// (`DriftCheck`) and the scorecard's rows (`Scorecard`). Pure logic: it sends nothing and stores
// nothing. ControlPlane's `CanaryProber` schedules the rounds, DataPlane's `ProbeCaller` sends
// them and books their cost, and Routing reads the scores.
//
// Imports SwitchyardCore only.

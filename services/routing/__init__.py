"""The routing service: turns a received dossier into its plan and moves it along as agencies
report what they did (CONTRACT.md §2, docs/design.md "Routing rules").

Layout: `machine.decide` is the pure entry point; `progress` (hand-offs, completions),
`clock_stops` (pauses, apologies) and `closing` (refusal, withdrawal, return) hold the rules;
`checks` the refusal rules they share; `outcome` what a decision produces; `state` and `plans`
the values; `handlers` and `repository` the edges.

Decisions taken beyond docs/design.md:
- An explicit `handoff_received` for a stage whose receipt was inferred (from a completion or a
  pause request of its agency) or automatic (same agency) is accepted as a no-op: the agency's
  system is right to send it, and the first receipt recorded stays the control slip's.
- Stage 0's `sent_at`/`received_at` are the actual receipt time (events at the counter after the
  cut-off are valid); its clock counts from the counting start (`counting_from`).
- With no return stage, the last stage ends at `result_ready`: the dossier then awaits its
  return, and nothing but `result_returned` (or the post's delivery) is accepted for that stage.
- No supplement, refusal, withdrawal or apology once the result is ready; a financial obligation
  is still possible (a fee paid when the result is collected), and the result is not returned
  while it is unpaid.
- `status` and `sub_state` are derived from the rest of the state after every change.
- Envelope `agency` of a fact: the agency it concerns (`handoff_sent`: the agency the dossier is
  sent to; `resumed`: the agency whose stage was paused; `returned`: the returning agency).
"""

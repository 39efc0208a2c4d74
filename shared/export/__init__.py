"""Process-mining export of the dossiers' event log (`lienthong export`): XES (IEEE 1849) and
OCEL 2.0 JSON, from the cases `lt.rpc.deadline.event_log` answers. The writers are pure and
streaming: they write case by case to a text stream and hold only what OCEL's object list needs."""

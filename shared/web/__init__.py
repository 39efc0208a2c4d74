"""The operators' web page (`lienthong serve`): charts of lateness and a dossier's timeline, plus
the AsyncAPI document, all from the deadline service over NATS request/reply."""

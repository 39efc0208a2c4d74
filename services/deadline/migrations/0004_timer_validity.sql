-- Event-time timers (services/deadline/alerts.py): when what a timer watches ended (its figures
-- are taken no later), and which appointment promise a dossier overdue flag watches.
ALTER TABLE {schema}.timers ADD COLUMN until_at timestamptz;
ALTER TABLE {schema}.timers ADD COLUMN promise integer NOT NULL DEFAULT 0;

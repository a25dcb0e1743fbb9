-- Worker ids belong to whoever registered them: the project of the registering token, or '' for
-- an unscoped caller (an admin token; every caller of a server without --auth). Calls naming a
-- worker of another project are refused. NULL: registered before owners were recorded; the next
-- registration, lease or heartbeat of that id claims it for its caller.
ALTER TABLE workers ADD COLUMN owner TEXT;

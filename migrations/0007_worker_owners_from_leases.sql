-- Workers registered before owners were recorded (owner NULL) take the project of the
-- experiments whose suggestions or gang places they hold now, where that is one project. The
-- rest stay unowned: only a registration claims one (see trial_scheduler.h); a lease, heartbeat
-- or report of a project's caller is refused, so that no project takes another's old worker ids.
WITH held (worker_id, project) AS (
  SELECT s.worker_id, e.project
    FROM suggestions s JOIN experiments e ON e.id = s.experiment_id
   WHERE s.state = 3 AND s.worker_id IS NOT NULL AND s.worker_id != ''
  UNION
  SELECT g.worker_id, e.project
    FROM gang_members g
    JOIN suggestions s ON s.id = g.suggestion_id
    JOIN experiments e ON e.id = s.experiment_id
   WHERE s.state = 3 AND g.released = 0
)
UPDATE workers
   SET owner = (SELECT MIN(project) FROM held WHERE held.worker_id = workers.id)
 WHERE owner IS NULL
   AND (SELECT COUNT(DISTINCT project) FROM held WHERE held.worker_id = workers.id) = 1;

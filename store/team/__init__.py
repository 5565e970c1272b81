"""The team workflow: dataset settings (overlap, review), the queue with leases, review, adjudication,
and the append-only history of every annotation."""

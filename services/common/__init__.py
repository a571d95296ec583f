"""What every Praxis service shares: configuration, storage, reliable events,
RPC deadlines and structured logs. Written once here, used by all five."""

"""Operations: metrics and dashboards, logs, alerts, work orders and platform health."""

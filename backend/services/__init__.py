"""Domain logic, one module per domain. Functions take a Session and adapters as arguments."""

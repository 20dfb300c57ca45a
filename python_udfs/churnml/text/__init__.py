"""Plain text helpers with no model behind them (sentence splitting)."""

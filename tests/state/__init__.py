"""The state store: its model, and the contract both backends keep (SQLite, DynamoDB on moto)."""

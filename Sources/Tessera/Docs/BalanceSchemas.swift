extension Schemas {
    static let balances: [(String, JSON)] = [
        ("Balance", object([("real", money), ("virtual", money)], required: ["real", "virtual"])),
        (
            "BalanceChange",
            object(
                [
                    ("action", ["type": "string", "enum": ["in", "out", "convert"]]),
                    ("value_type", ["type": "string", "enum": ["real", "virtual"]]),
                    ("value", ["type": ["string", "number"], "description": "More than zero, at most 1000000000.00, two decimals at most"]),
                    ("user_id", ["type": "string", "format": "uuid", "description": "Someone else's balance (needs balances:update)"]),
                ], required: ["action", "value_type", "value"])
        ),
        (
            "LedgerEntry",
            object(
                [
                    ("id", uuid), ("user", uuid), ("sequence", ["type": "integer", "minimum": 1]), ("actor", uuid), ("created_at", dateTime),
                    ("action", ["type": "string", "enum": ["in", "out", "convert"]]),
                    ("value_type", ["type": "string", "enum": ["real", "virtual"]]), ("value", money),
                    ("real_change", signedMoney), ("virtual_change", signedMoney), ("real_after", money), ("virtual_after", money),
                    ("idempotency_key", ["type": ["string", "null"]]),
                ],
                required: [
                    "id", "user", "sequence", "actor", "created_at", "action", "value_type", "value", "real_change", "virtual_change",
                    "real_after", "virtual_after", "idempotency_key",
                ])
        ),
        ("LedgerPage", page(of: "LedgerEntry")),
        (
            "BalanceChangeResult",
            object([("real", money), ("virtual", money), ("transaction", ref("LedgerEntry"))], required: ["real", "virtual", "transaction"])
        ),
    ]

    static let signedMoney: JSON = ["type": "string", "pattern": "^-?[0-9]+\\.[0-9]{2}$", "description": "A signed change, e.g. -10.01"]
}

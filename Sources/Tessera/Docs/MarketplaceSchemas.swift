extension Schemas {
    static let money: JSON = ["type": "string", "pattern": "^[0-9]+\\.[0-9]{2}$", "description": "Exact, two decimals, e.g. 1500.00"]
    static let moneyInput: JSON = ["type": ["string", "number"], "description": "A number or a string, at most two decimals, not negative"]
    static let nullableURL: JSON = ["type": ["string", "null"], "format": "uri"]
    static let localTime: JSON = ["type": "string", "pattern": "^[0-9]{2}:[0-9]{2}$"]
    static let date: JSON = ["type": "string", "format": "date"]

    static let marketplace: [(String, JSON)] = [
        (
            "Service",
            object(
                [
                    ("id", uuid), ("specialist", uuid), ("name", string), ("description", string), ("price", money),
                    ("duration_minutes", ["type": "integer"]), ("created_at", dateTime),
                ], required: ["id", "specialist", "name", "description", "price", "duration_minutes", "created_at"])
        ),
        (
            "ServiceRequest",
            object([
                ("name", text(150)), ("description", text(2000)), ("price", moneyInput),
                ("duration_minutes", ["type": "integer", "minimum": 1, "maximum": 1440]),
            ])
        ),
        ("ServicePage", page(of: "Service")),
        (
            "SpecialistProfile",
            object(
                [
                    ("id", uuid), ("full_name", string), ("bio", string), ("city", string), ("experience_years", ["type": "integer"]),
                    ("avatar", nullableURL),
                ], required: ["id", "full_name", "bio", "city", "experience_years", "avatar"])
        ),
        (
            "SpecialistProfileChange",
            object([
                ("full_name", text(150)), ("bio", text(2000)), ("city", text(100)),
                ("experience_years", ["type": "integer", "minimum": 0, "maximum": 80]),
            ])
        ),
        (
            "SpecialistDetail",
            object(
                [
                    ("id", uuid), ("full_name", string), ("bio", string), ("city", string), ("experience_years", ["type": "integer"]),
                    ("avatar", nullableURL), ("services", ["type": "array", "items": ref("Service")]),
                ], required: ["id", "full_name", "bio", "city", "experience_years", "avatar", "services"])
        ),
        ("SpecialistPage", page(of: "SpecialistProfile")),
        ("AvatarUpload", object([("avatar", ["type": "string", "format": "binary", "description": "JPEG, PNG or WebP"])], required: ["avatar"])),
        ("Image", ["type": "string", "format": "binary"]),
        (
            "Schedule",
            object(
                [
                    ("timezone", ["type": "string", "description": "IANA zone, e.g. Europe/Moscow"]),
                    (
                        "weekly",
                        [
                            "type": "array",
                            "items": object(
                                [("weekday", ["type": "integer", "minimum": 1, "maximum": 7]), ("start", localTime), ("end", localTime)],
                                required: ["weekday", "start", "end"]),
                        ]
                    ),
                    ("days_off", ["type": "array", "items": date]),
                ], required: ["timezone", "weekly", "days_off"])
        ),
        ("Slot", object([("start", dateTime), ("end", dateTime)], required: ["start", "end"])),
        ("Availability", object([("date", date), ("slots", ["type": "array", "items": ref("Slot")])], required: ["date", "slots"])),
        (
            "Booking",
            object(
                [
                    ("id", uuid), ("service", ["type": ["string", "null"], "format": "uuid"]), ("service_name", string), ("price", money),
                    ("specialist", uuid), ("client", uuid), ("start", dateTime), ("end", dateTime),
                    ("status", ["type": "string", "enum": ["pending", "confirmed", "cancelled"]]), ("created_at", dateTime),
                ],
                required: ["id", "service", "service_name", "price", "specialist", "client", "start", "end", "status", "created_at"])
        ),
        ("BookingRequest", object([("service", uuid), ("start", dateTime)], required: ["service", "start"])),
        ("BookingAction", object([("action", ["type": "string", "enum": ["confirm", "cancel"]])], required: ["action"])),
        ("BookingPage", page(of: "Booking")),
    ]
}

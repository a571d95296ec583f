"""Request bodies shared by the end-to-end tests."""


def platinum_cup(name="Platinum Cup 2026", capacity_ug=40, capacity_voc=30, **extra):
    return {
        "name": name, "season": "2026", "starts_on": "2026-03-01", "ends_on": "2026-06-30",
        "team_lock_date": "2026-04-01",
        "tracks": [
            {"key": "undergraduate", "name": "Undergraduate", "simulation": "Amazon",
             "platform": "X-Mall", "capacity": capacity_ug},
            {"key": "vocational", "name": "Vocational", "simulation": "AliExpress",
             "platform": "Our Mall", "capacity": capacity_voc},
        ],
        "selection_rules": {"min_quiz_score": 60},
        "credit_rules": {"attendance": 2, "idle_penalty": -5},
        **extra,
    }

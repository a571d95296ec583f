"""The Platinum Cup as a request body: the one example programme that the demo,
the benchmarks and the tests build on (each overriding what it needs)."""
from datetime import date, timedelta


def platinum_cup(name="Platinum Cup 2026", *, starts_on=None, days=121, lock_after_days=31,
                 capacity_ug=40, capacity_voc=30, **extra):
    """Starting today unless ``starts_on`` says otherwise (a programme that is over is refused)."""
    starts_on = starts_on or date.today()
    return {
        "name": name, "season": str(starts_on.year),
        "starts_on": starts_on.isoformat(),
        "ends_on": (starts_on + timedelta(days=days)).isoformat(),
        "team_lock_date": (starts_on + timedelta(days=lock_after_days)).isoformat(),
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

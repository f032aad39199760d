"""Prometheus metrics. Labels are bounded sets (pathway codes, area codes, fixed reasons),
never person data or free text."""
from prometheus_client import Counter, Gauge, Histogram

# Minutes to weeks: Encompass is due within hours, MATAC within 28 days.
CONTACT_BUCKETS = tuple(s * 60 for s in (1, 5, 15, 30, 60, 120, 240, 480, 720, 1440,
                                         2 * 1440, 3 * 1440, 7 * 1440, 14 * 1440, 28 * 1440))

INCIDENTS_ACCEPTED = Counter("referral_hub_incidents_accepted_total",
                             "Notifications accepted onto incidents.v1", ["source", "area"])
INCIDENTS_REFUSED = Counter("referral_hub_incidents_refused_total",
                            "Notifications refused (kept on incidents.dlq.v1 unless unauthenticated)",
                            ["source", "reason"])
DATA_PROBLEMS = Counter("referral_hub_data_problems_total",
                        "Data problems in accepted notifications, by field path without list indexes "
                        "(unknown fields as one label)", ["field"])
STALE_VERSIONS = Counter("referral_hub_stale_versions_total",
                         "Notifications whose version was not higher than one already seen: changed nothing")
DEAD_LETTERS = Counter("referral_hub_dead_letters_total",
                       "Records written to incidents.dlq.v1", ["source"])
REFERRALS = Counter("referral_hub_referrals_total", "Referral decisions made",
                    ["pathway", "area"])
DUPLICATE_INCIDENTS = Counter("referral_hub_duplicate_incidents_total",
                              "Incidents seen again (same force and id) and ignored")
DELIVERED = Counter("referral_hub_deliveries_total", "Referrals delivered to recipients",
                     ["pathway", "area"])
CONTACT_EVENTS = Counter("referral_hub_contact_events_total",
                         "Events reported on referrals", ["type"])
TIME_TO_NOTIFY = Histogram("referral_hub_time_to_notify_seconds",
                           "reported_at to delivery to the recipient", ["pathway", "area"],
                           buckets=CONTACT_BUCKETS)
TIME_TO_CONTACT = Histogram("referral_hub_time_to_contact_seconds",
                            "reported_at to first safe_contact_made (acknowledged for ENCOMPASS)",
                            ["pathway", "area"], buckets=CONTACT_BUCKETS)
TIME_TO_FIRST_ATTEMPT = Histogram("referral_hub_time_to_first_attempt_seconds",
                                  "reported_at to the first contact_attempted", ["pathway", "area"],
                                  buckets=CONTACT_BUCKETS)
FIRST_CONTACTS = Counter("referral_hub_first_contacts_total",
                         "Referrals reaching first contact, and whether by their due_at",
                         ["pathway", "area", "within_deadline"])
OPEN_REFERRALS = Gauge("referral_hub_open_referrals",
                       "Referrals decided and not yet closed by an outcome or a recall",
                       ["pathway", "area"])
OVERDUE_REFERRALS = Gauge("referral_hub_overdue_referrals",
                          "Open referrals past their due_at", ["pathway", "area"])
UNDELIVERED_DUE_SOON = Gauge("referral_hub_undelivered_due_soon_referrals",
                             "Referrals not yet delivered whose due_at is within 30 minutes or past",
                             ["pathway", "area"])
OVERDUE_EVENTS = Counter("referral_hub_overdue_events_total",
                         "Overdue events written to overdue.v1 (first, then daily reminders)",
                         ["pathway", "area", "kind"])
CONSUMER_LAG = Gauge("referral_hub_consumer_lag_messages",
                     "Records on a topic not yet processed by this service's consumer group",
                     ["group", "topic"])
SKIPPED_EVENTS = Counter("referral_hub_skipped_events_total",
                         "Events faust's consumer skipped and the service read again "
                         "(referral_hub/adapters/every_event.py)", ["topic"])
WEBHOOK_ATTEMPTS = Counter("referral_hub_webhook_attempts_total",
                           "POSTs to recipients' webhooks, by outcome (delivered: a 2xx answer)",
                           ["recipient", "outcome"])
WEBHOOK_WAITING = Gauge("referral_hub_webhook_waiting_referrals",
                        "Referrals waiting for the recipient's webhook to accept them", ["recipient"])
WEBHOOK_OLDEST_WAITING = Gauge("referral_hub_webhook_oldest_waiting_seconds",
                               "How long the oldest referral waiting for this webhook has waited",
                               ["recipient"])
UNDELIVERABLE = Counter("referral_hub_undeliverable_referrals_total",
                        "Records kept on deliveries.dlq.v1: a webhook without a 2xx for its retry "
                        "period, or an email the mail server kept refusing", ["recipient", "channel"])
HISTORIES_FORGOTTEN = Counter("referral_hub_histories_forgotten_total",
                              "People (and incidents) the router forgot: no rule looks back to "
                              "them any more (services/router/forgetting.py)", ["history"])

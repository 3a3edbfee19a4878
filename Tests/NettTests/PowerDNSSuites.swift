import Testing

/// The suites that write to the one PowerDNS of a test run (scripts/lib/pdns.sh). They run one after another:
/// PowerDNS's SQLite backend answers concurrent writers with 500 "database is locked", which the client retries, but
/// a bounded retry can still lose to three suites writing at once.
@Suite("PowerDNS", .serialized)
enum PowerDNSSuites {}

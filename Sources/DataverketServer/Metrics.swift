import DataverketCore
import Hummingbird
import Prometheus
import Sentral
import Synchronization
import DataverketTasks

/// The server's Prometheus registry and the HTTP metrics recorded into it.
///
/// Each server owns its registry (no global `MetricsSystem.bootstrap`), so several servers can run in
/// one process (tests, benchmarks) without sharing counters.
public struct ServerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    static let latencyBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5),
    ]

    static var requests: MetricNameDescriptor { MetricNameDescriptor(
        namespace: "dv", subsystem: "http", metricName: "requests", unitName: "total",
        helpText: "HTTP requests by route pattern, method and status.") }
    static var latency: MetricNameDescriptor { MetricNameDescriptor(
        namespace: "dv", subsystem: "http", metricName: "request_duration", unitName: "seconds",
        helpText: "HTTP request latency by route pattern, method and status.") }
    static var taskGauge: MetricNameDescriptor { MetricNameDescriptor(
        namespace: "dv", metricName: "tasks", unitName: "", helpText: "Tasks by state.") }

    static var inFlight: MetricNameDescriptor { MetricNameDescriptor(
        namespace: "dv", subsystem: "http", metricName: "requests_in_flight", unitName: "",
        helpText: "HTTP requests being handled now.") }
    /// Requests being handled now.
    public let inFlight: Gauge

    /// The counter and histogram of each (route, method, status) seen so far: a request looks them up once, under a
    /// lock held for a dictionary lookup, instead of asking the registry (names, labels, its own lock) twice.
    private struct SeriesKey: Hashable {
        var route: String
        var method: String
        var status: Int
    }
    private final class SeriesTable: Sendable {
        let entries = Mutex<[SeriesKey: (Counter, DurationHistogram)]>([:])
    }
    private let series = SeriesTable()

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        self.inFlight = registry.makeGauge(descriptor: Self.inFlight)
    }

    func record(route: String, method: String, status: Int, duration: Duration) {
        let key = SeriesKey(route: route, method: method, status: status)
        let (counter, histogram) = series.entries.withLock { series in
            if let known = series[key] { return known }
            let labels = [("route", route), ("method", method), ("status", String(status))]
            let made = (registry.makeCounter(descriptor: Self.requests, labels: labels),
                        registry.makeDurationHistogram(descriptor: Self.latency, labels: labels, buckets: Self.latencyBuckets))
            series[key] = made
            return made
        }
        counter.increment()
        histogram.recordNanoseconds(Int64(duration.components.seconds) * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }

    /// Refreshes gauges that are read from the store, then renders the exposition text.
    func render(tasks: Tasks) async throws -> String {
        let counts = try await tasks.countsByState()
        for (state, count) in counts {
            registry.makeGauge(descriptor: Self.taskGauge, labels: [("state", state.rawValue)]).set(Double(count))
        }
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}

/// Counts requests and records latency by route pattern (not raw path, so cardinality stays bounded),
/// method and status — including requests that end in an error.
struct HTTPMetricsMiddleware: RouterMiddleware {
    typealias Context = DataverketRequestContext
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        metrics.inFlight.increment()
        defer { metrics.inFlight.decrement() }
        let response = try await next(request, context)
        metrics.record(
            route: context.endpointPath ?? "unmatched", method: request.method.rawValue, status: Int(response.status.code),
            duration: ContinuousClock.now - started)
        return response
    }
}

import CoreMetrics

import Prometheus

/// Prometheus metrics for `/metrics`: Hummingbird's request counters and latency histogram
/// (by route and status) plus Tessera's own counters. swift-metrics is bootstrapped once per
/// process, before the first counter is made.
enum TesseraMetrics {
    static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5),
        ]
        MetricsSystem.bootstrap(factory)
        return registry
    }()

    private static func counter(_ label: String, _ dimensions: [(String, String)] = []) -> CoreMetrics.Counter {
        _ = registry
        return Counter(label: label, dimensions: dimensions)
    }

    static let loginsSucceeded = counter("tessera_logins_total", [("result", "ok")])
    static let loginsFailed = counter("tessera_logins_total", [("result", "failed")])
    static let refreshes = counter("tessera_refreshes_total")
    static let reuseDetected = counter("tessera_refresh_reuse_total")
    static let mailQueued = counter("tessera_mail_total", [("state", "queued")])
    static let mailSent = counter("tessera_mail_total", [("state", "sent")])
    static let mailFailed = counter("tessera_mail_total", [("state", "failed")])
    static let rateLimited = counter("tessera_rate_limited_total")
}

import PlantRegistry
import Telemetry
import Testing

@Suite("RFC 3339 timestamps")
struct TimestampTests {
    @Test(arguments: [
        ("1970-01-01T00:00:00Z", Int64(0)),
        ("2025-11-28T08:00:00+08:00", Int64(1_764_288_000_000)),
        ("2025-11-28T00:00:00.123Z", Int64(1_764_288_000_123)),
        ("2025-11-27T19:00:00.5-05:00", Int64(1_764_288_000_500)),
        ("2024-02-29T12:00:00z", Int64(1_709_208_000_000)),
    ])
    func parses(text: String, ms: Int64) {
        #expect(Timestamp.parseRFC3339(text) == ms)
    }

    @Test(arguments: [
        "2026-11-28", "2026-13-01T00:00:00Z", "2025-02-29T00:00:00Z", "2026-11-28T08:00:00",
        "2026-11-28T08:00:00+0800", "2026-11-28T25:00:00Z", "2026-11-28T08:00:00.Z", "x026-11-28T08:00:00Z",
    ])
    func rejects(text: String) {
        #expect(Timestamp.parseRFC3339(text) == nil)
    }

    @Test func formatsWhatItParses() {
        for ms: Int64 in [0, 1_764_288_000_123, 951_782_400_000, -1] {
            #expect(Timestamp.parseRFC3339(Timestamp.formatRFC3339UTC(ms)) == ms)
        }
    }
}

@Suite("MQTT topic filters and templates")
struct TopicTests {
    @Test(arguments: [
        ("a/+/c", "a/b/c", true), ("a/+/c", "a/b/d", false), ("a/#", "a", true), ("a/#", "a/b/c", true),
        ("#", "x/y", true), ("#", "$SYS/x", false), ("+/b", "$SYS/b", false), ("a/b", "a/b/c", false),
        ("/neuron/+/+/+", "/neuron/app/drv/grp", true), ("a/+", "a/", true), ("a/+", "a", false),
    ])
    func filterMatches(filter: String, topic: String, expected: Bool) throws {
        let f = try #require(TopicFilter(filter))
        #expect(f.matches(topic) == expected)
    }

    @Test(arguments: ["a/#/b", "a/b+", "", "a#"])
    func invalidFilters(filter: String) {
        #expect(TopicFilter(filter) == nil)
    }

    @Test func templateCapturesDeviceAndMetric() throws {
        let t = try #require(TopicTemplate("factory/{workshop}/{line}/{device}/{metric}"))
        var topic = "factory/ws1/l2/meter07/energy_kwh"
        let got = topic.withUTF8 { buf -> (String, String)? in
            let raw = UnsafeRawBufferPointer(buf)
            guard let c = t.capture(raw) else { return nil }
            return (
                String(decoding: UnsafeRawBufferPointer(rebasing: raw[c.device]), as: UTF8.self),
                String(decoding: UnsafeRawBufferPointer(rebasing: raw[c.metric]), as: UTF8.self)
            )
        }
        #expect(got?.0 == "meter07")
        #expect(got?.1 == "energy_kwh")
        var short = "factory/ws1/l2/meter07"
        #expect(short.withUTF8 { t.capture(UnsafeRawBufferPointer($0)) } == nil)
        #expect(TopicTemplate("factory/{line}/{metric}") == nil)
    }
}

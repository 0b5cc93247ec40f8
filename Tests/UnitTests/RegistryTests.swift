import Aggregation
import Foundation
import PlantRegistry
import Telemetry
import Testing

@Suite("Device registry")
struct RegistryTests {
    @Test func shippedExamplePlantIsValid() throws {
        let (plant, problems) = Plant.loadReporting(directory: Fixtures.shippedDevices)
        #expect(problems.isEmpty, "\(problems)")
        let p = try #require(plant)
        #expect(p.sites.count >= 1)
        #expect(p.sites[0].workshops.count >= 2)
        #expect(Set(p.gateways.map(\.decoder)) == Set(DecoderKind.allCases))
        #expect(p.devices.contains { $0.ncCapable && $0.keyProcess })
        #expect(p.devices.contains { !$0.ncCapable && $0.keyProcess })
        #expect(p.devices.contains { $0.meterRole == .main } && p.devices.contains { $0.meterRole == .sub })
        #expect(p.devices.contains { $0.metrics.contains { $0.carrier == .water } })
    }

    @Test func fixtureLoadsWithLookups() throws {
        let p = try Fixtures.plant()
        let d = try #require(p.deviceIndex(id: "plc-1"))
        #expect(p.devices[d].keyProcess == false)
        #expect(p.devices[d].metricIndex(source: "RUN") == 0)
        #expect(p.devices[d].metricIndex(source: "state") == 0)
        #expect(p.devices[try #require(p.deviceIndex(id: "cnc-1"))].keyProcess == true)
        #expect(p.series.count == 9)
    }

    /// Loads the fixture with one gateway file replaced and returns the problems.
    func problems(in file: String, _ text: String) throws -> [RegistryProblem] {
        let dir = try Fixtures.registry([file: text])
        let (_, problems) = Plant.loadReporting(directory: dir)
        return problems
    }

    @Test func unknownKeyIsLocatedWithASuggestion() throws {
        let text = Fixtures.nativeGateway.replacingOccurrences(of: "nc_capable: true", with: "nc_capeable: true")
        let ps = try problems(in: "gateways/native.yaml", text)
        #expect(ps.count == 1)
        #expect(ps[0].file.hasSuffix("gateways/native.yaml"))
        #expect(ps[0].line == 9)
        #expect(ps[0].message.contains("nc_capeable"))
        #expect(ps[0].hint == "did you mean `nc_capable`?")
    }

    @Test func energyWithoutCarrierAndBadKind() throws {
        let text = Fixtures.nativeGateway
            .replacingOccurrences(of: ", carrier: electricity, scale: 0.1", with: ", scale: 0.1")
            .replacingOccurrences(of: "{name: power, kind: gauge", with: "{name: power, kind: gage")
        let ps = try problems(in: "gateways/native.yaml", text)
        #expect(ps.count == 2)
        #expect(ps.contains { $0.message.contains("gage") && $0.hint == "did you mean `gauge`?" && $0.line == 11 })
        #expect(ps.contains { $0.message.contains("missing `carrier`") && $0.line == 12 })
    }

    @Test func meteringThresholdsAreCheckedWithTheirLine() throws {
        // Line 12 holds the energy register, line 11 the power gauge; the gateway file gains a staleness window.
        let text = Fixtures.nativeGateway
            .replacingOccurrences(of: "rollover: 99999.9}", with: "rollover: 99999.9, reset_below: 1.5, expected_interval_s: 0}")
            .replacingOccurrences(
                of: "{name: power, kind: gauge, unit: kW, measures: other}",
                with: "{name: power, kind: gauge, unit: kW, measures: other, rollover_margin: 0.2}"
            )
            .replacingOccurrences(of: "topic: zz/native/#", with: "topic: zz/native/#\nstale_after_s: -5")
        let ps = try problems(in: "gateways/native.yaml", text)
        #expect(ps.contains { $0.message.contains("`reset_below`") && $0.message.contains("between 0 and 1") && $0.line == 13 })
        #expect(ps.contains { $0.message.contains("`expected_interval_s`") && $0.message.contains("above 0") && $0.line == 13 })
        #expect(ps.contains { $0.message.contains("`rollover_margin` on metric power") && $0.line == 12 })
        #expect(ps.contains { $0.message.contains("`stale_after_s`") && $0.line == 4 })
        #expect(ps.count == 5, "\(ps)")  // rollover_margin on a gauge is wrong twice: not a counter, and no modulus
    }

    @Test func oneConsumptionRegisterPerCarrierAndNoCarrierWithoutACoefficient() throws {
        let meters = """
            gateway: gw-meters
            decoder: native
            topic: zz/meters/#
            devices:
              - id: em-main
                metrics:
                  - {name: total, kind: counter, unit: kWh, measures: energy, carrier: electricity}
                  - {name: peak, kind: counter, unit: kWh, measures: energy, carrier: electricity}
              - id: steam-1
                metrics:
                  - {name: steam, kind: counter, unit: t, measures: energy, carrier: steam}
            """
        let ps = try problems(in: "gateways/meters.yaml", meters)
        #expect(ps.contains { $0.message.contains("em-main has 2 electricity consumption registers (total, peak)") && $0.line == 5 })
        #expect(ps.contains { $0.message.contains("steam-1 meters steam, but site s1 has no kgce coefficient") && $0.line == 9 })
        #expect(ps.count == 2, "\(ps)")
        // Marked as a tariff register it is stored and queryable, and never added.
        let fixed = meters.replacingOccurrences(
            of: "{name: peak, kind: counter, unit: kWh, measures: energy,",
            with: "{name: peak, kind: counter, unit: kWh, measures: energy_tariff,"
        )
        .components(separatedBy: "  - id: steam-1")[0]
        let plant = try Plant.load(directory: try Fixtures.registry(["gateways/meters.yaml": fixed]))
        let plan = AggregationPlan(plant: plant)
        let peak = try #require(plant.series.firstIndex(of: SeriesKey(device: "em-main", metric: "peak")))
        let total = try #require(plant.series.firstIndex(of: SeriesKey(device: "em-main", metric: "total")))
        #expect(plan.series[peak].targets.isEmpty && !plan.series[total].targets.isEmpty)
    }

    @Test func placeInThePlantIsChecked() throws {
        let text = Fixtures.nativeGateway.replacingOccurrences(of: "process: turning", with: "process: turnning")
        let ps = try problems(in: "gateways/native.yaml", text)
        #expect(ps.count == 1)
        #expect(ps[0].message.contains("no process turnning"))
        #expect(ps[0].hint == "did you mean `turning`?")
        #expect(ps[0].line == 8)
    }

    @Test func duplicateDeviceAcrossGateways() throws {
        let text = Fixtures.plainGateway.replacingOccurrences(of: "id: em-1", with: "id: cnc-1")
        let ps = try problems(in: "gateways/plain.yaml", text)
        #expect(ps.contains { $0.message.contains("cnc-1 is declared twice") })
    }

    @Test func neuronDeviceNeedsItsGroupAndTemplatesNeedDevice() throws {
        let neuron = Fixtures.neuronGateway.replacingOccurrences(of: "    neuron: {node: s7, group: g1}\n", with: "")
        #expect(try problems(in: "gateways/neuron.yaml", neuron).contains { $0.message.contains("has no `neuron:`") })
        let plain = Fixtures.plainGateway.replacingOccurrences(of: "{line}/{device}/{metric}", with: "{line}/{metric}")
        #expect(try problems(in: "gateways/plain.yaml", plain).contains { $0.message.contains("{device} and {metric}") })
        let filter = Fixtures.plainGateway.replacingOccurrences(of: "topic: factory/+/+/+/+", with: "topic: factory/#/x")
        #expect(try problems(in: "gateways/plain.yaml", filter).contains { $0.message.contains("not a valid MQTT topic filter") })
    }

    @Test func yamlSyntaxErrorNamesTheLine() throws {
        let ps = try problems(in: "gateways/native.yaml", "gateway: x\ndecoder: native\n  topic: [unclosed\n")
        #expect(ps.count == 1)
        #expect(ps[0].message.hasPrefix("YAML syntax"))
        #expect(ps[0].line == 3)
    }

    @Test func stateWordsMustBeCanonical() throws {
        let text = Fixtures.nativeGateway.replacingOccurrences(of: "\"2\": manual", with: "\"2\": hand")
        let ps = try problems(in: "gateways/native.yaml", text)
        #expect(ps.count == 1)
        #expect(ps[0].message.contains("\"hand\""))
        #expect(ps[0].hint == "use one of manual, nc")
    }

    @Test func missingDirectoryIsOneClearProblem() {
        let (plant, ps) = Plant.loadReporting(directory: "/nonexistent/zhizao-devices")
        #expect(plant == nil)
        #expect(ps.count == 1)
        #expect(ps[0].hint?.contains("--devices") == true)
    }
}

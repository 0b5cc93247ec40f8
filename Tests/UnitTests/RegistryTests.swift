import Foundation
import PlantRegistry
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

import Foundation
import PlantRegistry

/// A small plant covering every decoder, written to a temporary registry directory.
enum Fixtures {
    static let plantYAML = """
        sites:
          - id: s1
            name: Test site
            timezone: Asia/Shanghai
            workshops:
              - id: ws1
                lines:
                  - id: l1
                    processes:
                      - id: turning
                        key_process: true
                      - id: wash
                        key_process: false
        """

    static let nativeGateway = """
        gateway: gw-native
        decoder: native
        topic: zz/native/#
        devices:
          - id: cnc-1
            workshop: ws1
            line: l1
            process: turning
            nc_capable: true
            metrics:
              - {name: power, kind: gauge, unit: kW, measures: other}
              - {name: energy, kind: counter, unit: kWh, measures: energy, carrier: electricity, scale: 0.1, rollover: 99999.9}
              - {name: state, kind: state, measures: machine_state}
              - {name: mode, kind: state, measures: control_mode, states: {"1": nc, "2": manual}}
        """

    static let neuronGateway = """
        gateway: gw-neuron
        decoder: neuron
        topic: /neuron/app/+/+
        devices:
          - id: plc-1
            workshop: ws1
            line: l1
            process: wash
            line_output: true            # the washer's part counter is the line's output counter
            neuron: {node: s7, group: g1}
            metrics:
              - {name: state, source: RUN, kind: state, measures: machine_state, states: {"1": producing, "3": idle}}
              - {name: power, source: P_KW, kind: gauge, unit: kW, measures: other}
              - {name: good, source: GOOD, kind: counter, unit: pcs, measures: good_count}
        """

    static let plainGateway = """
        gateway: gw-plain
        decoder: plain
        topic: factory/+/+/+/+
        topic_template: factory/{workshop}/{line}/{device}/{metric}
        devices:
          - id: em-1
            workshop: ws1
            line: l1
            meter_role: sub
            metrics:
              - {name: energy, source: energy_kwh, kind: counter, unit: kWh, measures: energy, carrier: electricity}
              - {name: state, kind: state, measures: machine_state}
        """

    /// Writes the registry (optionally with extra or replaced files) and returns its directory.
    static func registry(_ files: [String: String] = [:]) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("zhizao-reg-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/gateways", withIntermediateDirectories: true)
        var all = [
            "plant.yaml": plantYAML, "gateways/native.yaml": nativeGateway,
            "gateways/neuron.yaml": neuronGateway, "gateways/plain.yaml": plainGateway,
        ]
        for (k, v) in files { all[k] = v }
        for (name, text) in all where !text.isEmpty {
            try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
        }
        return dir
    }

    static func plant() throws -> Plant {
        try Plant.load(directory: try registry())
    }

    /// The repository's `Devices/` directory.
    static var shippedDevices: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Devices").path
    }
}

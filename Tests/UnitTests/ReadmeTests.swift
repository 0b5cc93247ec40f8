import Foundation
import Testing

@Suite("READMEs")
struct ReadmeTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The `make` targets and `zhizao` commands a README names (`zhizao devices list`,
    /// `zhizao export readings` with their second word).
    static func commands(_ file: String) throws -> Set<String> {
        let text = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
        var found: Set<String> = []
        for (pattern, prefix) in [
            (#"\bmake ([a-z][a-z-]*)"#, "make "),
            (#"\bzhizao ((?:devices|export) [a-z][a-z-]*|[a-z][a-z-]*)"#, "zhizao "),
        ] {
            let regex = try NSRegularExpression(pattern: pattern)
            for m in regex.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                if let r = Range(m.range(at: 1), in: text) { found.insert(prefix + text[r]) }
            }
        }
        return found
    }

    /// The Chinese README names the same commands as the English one, so neither falls behind.
    @Test func bothREADMEsNameTheSameCommands() throws {
        let english = try Self.commands("README.md")
        let chinese = try Self.commands("README.zh-CN.md")
        #expect(english.contains("make demo") && english.contains("make test") && english.contains("zhizao report"))
        #expect(english.subtracting(chinese).isEmpty, "missing from README.zh-CN.md: \(english.subtracting(chinese).sorted())")
        #expect(chinese.subtracting(english).isEmpty, "missing from README.md: \(chinese.subtracting(english).sorted())")
    }
}

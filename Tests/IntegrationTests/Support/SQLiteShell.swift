import Foundation

/// The output of one SQL script run by the sqlite3 shell on a read-only connection, trimmed.
func sqliteShell(_ database: String, _ sql: String) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
    p.arguments = ["-readonly", database, sql]
    let out = try temporaryDirectory("sql") + "/out"
    p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: try createFile(out)))
    p.standardError = p.standardOutput
    try p.run()
    p.waitUntilExit()
    let text = try String(contentsOfFile: out, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    guard p.terminationStatus == 0 else { throw TestFailure("sqlite3 \(sql): \(text)") }
    return text
}

/// One integer from one SQL statement, by the sqlite3 shell.
func sqliteInteger(_ database: String, _ sql: String) throws -> Int64 {
    let text = try sqliteShell(database, sql)
    guard let n = Int64(text) else { throw TestFailure("sqlite3 \(sql): \(text)") }
    return n
}

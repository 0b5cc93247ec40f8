import Foundation
import PostgresClient
import ReadingStore
import Testing

/// The libpq wrapper against a real PostgreSQL server started for the test.
@Suite("PostgreSQL client")
struct PostgresClientTests {
    @Test("statements with parameters round-trip integers, doubles, text and NULL")
    func parameters() throws {
        let server = try TestPostgres()
        let db = try PostgresConnection(target: server.url)
        try db.execute("CREATE TABLE t (id bigint PRIMARY KEY, v double precision, s text)")
        let inserted = try db.execute(
            "INSERT INTO t VALUES ($1, $2, $3), ($4, $5, $6)",
            [.int(1), .double(0.1), .text("产量 'quoted'"), .int(9_007_199_254_740_993), .null, .null])
        #expect(inserted.affected == 2)
        let rows = try db.execute("SELECT id, v, s FROM t ORDER BY id")
        #expect(rows.columns == ["id", "v", "s"])
        #expect(rows.int(0, 0) == 1)
        #expect(rows.double(0, 1) == 0.1)  // shortest round-trip text both ways
        #expect(rows.string(0, 2) == "产量 'quoted'")
        #expect(rows.int(1, 0) == 9_007_199_254_740_993)  // beyond a double's exact integers
        #expect(rows.string(1, 1) == nil)
    }

    @Test("errors are classified: a duplicate key is a constraint, a bad statement is other")
    func errorClasses() throws {
        let server = try TestPostgres()
        let db = try PostgresConnection(target: server.url)
        try db.execute("CREATE TABLE t (id bigint PRIMARY KEY)")
        try db.execute("INSERT INTO t VALUES (1)")
        #expect(throws: PostgresError.self) { try db.execute("INSERT INTO t VALUES (1)") }
        do {
            try db.execute("INSERT INTO t VALUES (1)")
        } catch {
            #expect(error.code == .constraint)
            #expect(error.sqlstate == "23505")
        }
        do {
            try db.execute("SELEC 1")
        } catch {
            #expect(error.code == .other)
            #expect(error.sqlstate == "42601")
        }
        // A failed statement inside a transaction rolls the whole transaction back.
        #expect(throws: PostgresError.self) {
            try db.transaction {
                try db.execute("INSERT INTO t VALUES (2)")
                try db.execute("INSERT INTO t VALUES (1)")
            }
        }
        #expect(try db.execute("SELECT count(*) FROM t").int(0, 0) == 1)
    }

    @Test("a server restart is a connection error; a new connection then works")
    func restart() throws {
        let server = try TestPostgres()
        let db = try PostgresConnection(target: server.url)
        try db.execute("SELECT 1")
        try server.stop(mode: "immediate")
        do {
            try db.execute("SELECT 1")
            Issue.record("a statement succeeded on a stopped server")
        } catch {
            #expect(error.code == .connection)
        }
        #expect(!db.isOpen)
        do {
            _ = try PostgresConnection(target: server.url)
            Issue.record("connected to a stopped server")
        } catch {
            #expect(error.code == .connection)
        }
        try server.start()
        let again = try PostgresConnection(target: server.url)
        #expect(try again.execute("SELECT 40 + 2").int(0, 0) == 42)
    }

    @Test("an unknown database and a refused login are told apart from a lost server")
    func loginErrors() throws {
        let server = try TestPostgres()
        do {
            _ = try PostgresConnection(target: "postgresql://zhizao@127.0.0.1:\(server.port)/nosuchdb")
            Issue.record("connected to a database that does not exist")
        } catch {
            #expect(error.code == .noDatabase)
            #expect(error.message.contains("nosuchdb"))
        }
    }

    @Test("a URL's password is detected and never printed")
    func redaction() {
        #expect(PostgresTarget.isPostgres("postgresql://u@h/db"))
        #expect(PostgresTarget.isPostgres("postgres://u@h/db"))
        #expect(!PostgresTarget.isPostgres("/var/lib/zhizao/zhizao.db"))
        #expect(PostgresTarget.hasPassword("postgresql://u:secret@h:5432/db"))
        #expect(!PostgresTarget.hasPassword("postgresql://u@h:5432/db"))
        #expect(
            PostgresTarget.redacted("postgresql://u:secret@h:5432/db?sslmode=require") == "postgresql://u:***@h:5432/db?sslmode=require")
        #expect(PostgresTarget.redacted("postgresql://u@h/db") == "postgresql://u@h/db")
    }

    @Test("the daemon's migrations create what Schemas/database.postgres.sql documents")
    func schemaMatchesItsDocument() throws {
        let server = try TestPostgres()
        let admin = try PostgresConnection(target: server.url)
        try admin.execute("CREATE DATABASE documented")
        _ = try PostgresStore(url: server.url)
        let documented = try PostgresConnection(target: "postgresql://zhizao@127.0.0.1:\(server.port)/documented")
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Schemas/database.postgres.sql")
        try documented.executeScript(try String(contentsOf: file, encoding: .utf8))
        func describe(_ db: PostgresConnection) throws -> [[String?]] {
            let columns = try db.execute(
                """
                SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns
                WHERE table_schema = 'public' AND table_name <> 'schema_migrations' ORDER BY 1, 2
                """)
            let indexes = try db.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename <> 'schema_migrations' ORDER BY 1")
            let partitioned = try db.execute(
                "SELECT c.relname FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid ORDER BY 1")
            return columns.rows + indexes.rows + partitioned.rows
        }
        let migrated = try describe(admin)
        #expect(migrated.contains { $0.first == "readings" && $0.dropFirst().first == "series_id" })
        #expect(migrated.contains { $0 == ["readings"] }, "readings is partitioned")
        #expect(migrated == (try describe(documented)))
    }
}

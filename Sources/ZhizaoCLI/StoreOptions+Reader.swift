import Foundation
import PlantRegistry
import ReadingStore

extension StoreOptions {
    /// The reader `--db` names: a SQLite file, or a PostgreSQL database read for `plant`'s sites
    /// (every site when nil). The PostgreSQL password comes from `ZHIZAO_DB_PASSWORD_FILE` (as
    /// `store.password_file` for `run`), `PGPASSFILE` or `PGPASSWORD`, never from the URL;
    /// failures name the database without a password and exit 1.
    func reader(plant: Plant?) throws -> any TelemetryReader {
        do {
            return try openTelemetryReader(
                db, passwordFile: getenv("ZHIZAO_DB_PASSWORD_FILE").map { String(cString: $0) }, plant: plant)
        } catch {
            throw fail("\(error)")
        }
    }
}

import Foundation
public import Logging
public import ServiceLifecycle

/// `zhizao run` as a service: starts the ingest thread, stops it on graceful shutdown.
public struct IngestService: Service, CustomStringConvertible {
    let loop: IngestLoop
    let logger: Logger

    public init(loop: IngestLoop, logger: Logger) {
        self.loop = loop
        self.logger = logger
    }

    public var description: String { "IngestService" }

    public func run() async throws {
        let loop = self.loop
        try await withGracefulShutdownHandler {
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                    let thread = Thread {
                        do {
                            try loop.run()
                            continuation.resume()
                        } catch {
                            continuation.resume(throwing: error)
                        }
                    }
                    thread.name = "zhizao-ingest"
                    thread.start()
                }
            } onCancel: {
                loop.requestStop()
            }
        } onGracefulShutdown: {
            loop.requestStop()
        }
    }
}

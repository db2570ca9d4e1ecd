import ArgumentParser
import EventLoop
import Foundation
import Logging
import Proxy
import UnixSignals

/// The daemon's command line: parse flags, load the configuration, run until SIGTERM/SIGINT;
/// SIGHUP reloads the configuration file.
@main
struct Metacluster: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metacluster",
        abstract: "A multi-datacenter proxy for redis and memcached.",
        version: MetaclusterVersion.current
    )

    @Option(name: .long, help: "Path of the JSON configuration file.")
    var config: String

    @Flag(name: .long, help: "Validate the configuration, list any problems, and exit (0 valid, 1 invalid).")
    var check = false

    @Option(name: .long, help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .info

    func run() async throws {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "metacluster")
        let cpus = ProcessInfo.processInfo.activeProcessorCount
        let proxyConfig: ProxyConfig
        do {
            proxyConfig = try ConfigLoader.load(path: config, defaultWorkers: max(cpus, 1))
        } catch {
            FileHandle.standardError.write(Data("\(config): invalid configuration\n\(error)\n".utf8))
            throw ExitCode(1)
        }
        if check {
            print("\(config): configuration is valid")
            return
        }
        // Trap the signals before the listener opens: a client (or a test) may send SIGTERM as soon as
        // the port accepts, and an untrapped SIGTERM would kill the process without a graceful stop.
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint, .sighup)
        // I/O buffers grown for a pipelined batch or a large value are freed after use; with glibc's
        // sliding threshold their space stayed in the heap: +8 MiB of RSS over a 10-minute pipelined
        // soak while the live heap stayed flat (scripts/memory soak). 128 KiB is glibc's start value.
        Posix.fixMmapThreshold(bytes: 128 * 1024)
        let server = ProxyServer(config: proxyConfig, configPath: config, logger: logger)
        do {
            try server.start()
        } catch {
            logger.critical("cannot start", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
        logger.info("started", metadata: ["version": "\(MetaclusterVersion.current)"])
        for await signal in signals {
            logger.info("signal received", metadata: ["signal": "\(signal)"])
            // SIGHUP reloads the configuration file; SIGTERM and SIGINT stop gracefully.
            if signal == .sighup {
                _ = server.reload()
                continue
            }
            break
        }
        await server.shutdown(timeout: proxyConfig.timeouts.shutdown)
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

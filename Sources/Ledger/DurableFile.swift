#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Appending to a local file so that what was written survives a crash: the usage journal's
/// records and the audit checkpoints.
public enum DurableFile {
    /// Why an append failed: the call that failed and its errno.
    public struct Failure: Error, CustomStringConvertible {
        public enum Step: String, Sendable { case open, write, fsync }
        public var step: Step
        public var path: String
        public var code: Int32
        public var description: String { "cannot \(step.rawValue) \(path): \(String(cString: strerror(code)))" }
    }

    /// Appends `bytes` (created with mode 0600 if absent) and returns once they are on disk.
    public static func append(_ bytes: [UInt8], to path: String) throws(Failure) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw Failure(step: .open, path: path, code: errno) }
        defer { close(descriptor) }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw Failure(step: .write, path: path, code: errno)
            }
            offset += written
        }
        guard fsync(descriptor) == 0 else { throw Failure(step: .fsync, path: path, code: errno) }
    }
}

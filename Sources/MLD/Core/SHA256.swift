import Crypto
import Foundation

/// SHA-256 (FIPS 180-4, from swift-crypto): which model file a run used, and the integrity of
/// checkpoints and of the data files they describe. Digests are written as 64 lowercase hex
/// digits.
public enum SHA256 {
    /// The digest of `bytes` as 64 lowercase hex digits.
    public static func hex<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var h = Hasher()
        h.update(bytes)
        return h.hex
    }

    /// An incremental SHA-256: `update` with successive pieces, `hex` the digest of all of them
    /// so far (the hasher can go on being updated afterwards).
    public struct Hasher: @unchecked Sendable {
        private var state = Crypto.SHA256()
        /// Bytes taken in all.
        public private(set) var count: UInt64 = 0

        public init() {}

        public mutating func update<C: Collection>(_ bytes: C) where C.Element == UInt8 {
            count += UInt64(bytes.count)
            if let done = bytes.withContiguousStorageIfAvailable({ state.update(bufferPointer: UnsafeRawBufferPointer($0)) }) {
                return done
            }
            Array(bytes).withUnsafeBytes { state.update(bufferPointer: $0) }
        }

        /// The digest of everything taken in so far, as 64 lowercase hex digits.
        public var hex: String {
            let digits = Array("0123456789abcdef".utf8)
            var out: [UInt8] = []
            out.reserveCapacity(64)
            for b in state.finalize() {     // finalises a copy; `state` can go on
                out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)])
            }
            return String(decoding: out, as: UTF8.self)
        }
    }

    /// The digest of a file's bytes.
    public static func hex(file path: String) throws -> String {
        guard let d = FileManager.default.contents(atPath: path) else {
            throw MLDError.input(file: path, line: nil, problem: "cannot be read")
        }
        return hex(d)
    }
}

import Foundation
import Testing
@testable import MLD

/// The byte-level form of text inputs: CRLF line ends and a UTF-8 byte-order mark are read like
/// plain text; gzip, misnamed xz and binary files are refused in one line that holds none of
/// their raw bytes.
@Suite struct TextFormTests {
    static let xyz = "2\nLattice=\"5 0 0 0 5 0 0 0 5\" Properties=species:S:1:pos:R:3 time=1.5\nO 0 0 0\nH 1 0 0\n"

    func write(_ bytes: [UInt8], _ name: String = "s.xyz") throws -> String {
        let path = try temporaryDirectory() + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func crlfAndByteOrderMarkReadLikePlainText() throws {
        let plain = try ExtendedXYZ.read(try write(Array(Self.xyz.utf8)))
        let crlf = try ExtendedXYZ.read(try write(Array(Self.xyz.replacingOccurrences(of: "\n", with: "\r\n").utf8)))
        let bom = try ExtendedXYZ.read(try write([0xef, 0xbb, 0xbf] + Array(Self.xyz.utf8)))
        for other in [crlf, bom] {
            #expect(other.count == 1 && other[0].positions == plain[0].positions && other[0].elements == plain[0].elements
                    && other[0].time == 1.5 && other[0].box == plain[0].box)
        }
        // A CRLF error line carries no CR.
        let bad = try write(Array(Self.xyz.replacingOccurrences(of: "H 1 0 0", with: "H 1 zz 0").replacingOccurrences(of: "\n", with: "\r\n").utf8))
        #expect(throws: MLDError.input(file: bad, line: 4, problem: "not a number: 'zz'")) { try ExtendedXYZ.read(bad) }
    }

    @Test func compressedAndBinaryFilesAreOneCleanLine() throws {
        let cases: [([UInt8], String)] = [
            ([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00] + Array(Self.xyz.utf8), "is gzip-compressed"),
            ([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00, 0x04], "is xz-compressed but its name does not end in .xz"),
            (Array("2\nLattice=\"5 0 0 0 5 0 0 0 5\"\nO 0 0 0\u{0}\nH 1 0 0\n".utf8), "holds a NUL byte"),
        ]
        for (bytes, needle) in cases {
            let path = try write(bytes)
            do {
                _ = try ExtendedXYZ.read(path)
                Issue.record("read \(needle)")
            } catch let e as MLDError {
                #expect(e.description.hasPrefix(path + ":") && e.description.contains(needle), "\(e)")
                #expect(!e.description.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0xfeff }, "\(e.description.debugDescription)")
            }
        }
    }
}

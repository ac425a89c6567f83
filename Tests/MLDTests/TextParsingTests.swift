import Foundation
import Testing
@testable import MLD

/// The byte-level readers of text files give what the Character-level ones give: the line split
/// of `TextFile.lines`, and the atom lines of a CP2K XYZ file (`XYZAtomLine`), which answer only
/// where the general path would read the same and leave every other line to it.
@Suite struct TextParsingTests {
    /// Lines split at "\n" and "\r\n" Characters, as `TextFile.lines` did before.
    static func characterLines(_ text: String) -> [Substring] {
        text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
    }

    @Test func linesSplitAsCharactersDo() {
        let texts = [
            "", "\n", "\n\n", "a", "a\n", "a\nb", "a\r\nb\r\n", "a\rb\nc", "\r\n\r\n", "a\r\r\nb",
            "x\u{301}\ny\u{301}", "\u{301}\n\u{301}", "é\r\n🙂\n", "\r", "a\n\r", "3\n i = 0\nO 1 2 3\n",
        ]
        for t in texts {
            let bytes = TextFile.splitLines(t).map { Array($0.utf8) }
            let chars = Self.characterLines(t).map { Array($0.utf8) }
            #expect(bytes == chars, "\(t.debugDescription)")
        }
        // and a whole CP2K positions file
        let text = String(decoding: try! TextFile.read(bundledData + "/water64-xtb-300K-pos-1.xyz.xz"), as: UTF8.self)
        #expect(TextFile.splitLines(text) == Self.characterLines(text))
    }

    /// What `XYZFrames.read`'s general path makes of one atom line: the element and the
    /// numbers, or nil where it names a problem.
    static func general(_ line: Substring) -> (Element, SIMD3<Double>)? {
        let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard f.count >= 4, let e = Element(symbol: String(f[0])),
              let x = Double(f[1]), let y = Double(f[2]), let z = Double(f[3]),
              x.isFinite, y.isFinite, z.isFinite else { return nil }
        return (e, SIMD3(x, y, z))
    }

    @Test func atomLinesReadAsTheGeneralPathDoes() {
        let lines: [Substring] = [
            "O 1.0 2.0 3.0", "  H\t-0.5   .25 5.", "O 1e-3 -2E+2 +7", "H 0x1p3 1 2", "O 1 2 3 extra fields",
            "O -0 0 0", "H 1.0000000000000000000000001 2.2250738585072014e-308 4.9e-324",
            "H 1e-400 0 0", "H 1e400 0 0", "O nan 0 0", "O inf 1 1", "O 1 2", "O", "", "   \t ",
            "Xx 1 2 3", "O 1 2 3x", "O 1,0 2 3", "O 1 2 3\r", "Ö 1 2 3", "O 1 2 3\u{301}", "O\u{301} 1 2 3",
            "O 1 2 " + String(repeating: "1", count: 80), "Oxygen 1 2 3", "O 1 2 3 ",
            "  O        8.1023482345        3.2219023410       11.9302374102",
        ]
        // read by the general path, left to it by the byte reader: non-ASCII, an underflow and a
        // subnormal (strtod's range error), a number of 64 bytes or more
        let leftToGeneral: Set<Substring> = [
            "H 1e-400 0 0",
            "H 1.0000000000000000000000001 2.2250738585072014e-308 4.9e-324",
            "O 1 2 " + String(repeating: "1", count: 80),
        ]
        var reader = XYZAtomLine()
        var taken = 0
        for line in lines {
            let fast = reader.parse(line)
            let reference = Self.general(line)
            if let fast {
                taken += 1
                #expect(reference != nil, "\(line.debugDescription)")
                if let reference {
                    #expect(fast.element == reference.0, "\(line.debugDescription)")
                    #expect(fast.vector.x.bitPattern == reference.1.x.bitPattern
                        && fast.vector.y.bitPattern == reference.1.y.bitPattern
                        && fast.vector.z.bitPattern == reference.1.z.bitPattern, "\(line.debugDescription)")
                }
            } else {
                // left to the general path: it must be a line the general path refuses or an
                // unusual one (non-ASCII, a range error)
                let unusual = line.utf8.contains { $0 >= 0x80 } || leftToGeneral.contains(line)
                #expect(reference == nil || unusual, "\(line.debugDescription)")
            }
        }
        #expect(taken == 8)
    }

    /// Every atom line of the bundled run's three files is taken by the byte reader, with the
    /// general path's values.
    @Test func bundledRunIsReadFromBytes() throws {
        for name in ["pos", "vel", "frc"] {
            let lines = try TextFile.lines(bundledData + "/water64-xtb-300K-\(name)-1.xyz.xz")
            var reader = XYZAtomLine()
            var atoms = 0
            // the atom lines (the comment lines hold "=")
            for line in lines.prefix(20_000) where line.split(separator: " ").count >= 4 && !line.contains("=") {
                guard let fast = reader.parse(line), let reference = Self.general(line) else {
                    Issue.record("\(name): \(line) not read"); continue
                }
                #expect(fast.element == reference.0 && fast.vector == reference.1)
                atoms += 1
            }
            #expect(atoms > 10_000)
        }
    }
}

// swift-tools-version:6.0
// mld: molecular learning dynamics. One library holds the science (MLD), the
// OpenCL backend lives beside it (MLDOpenCL), and the `mld` command is a thin
// front over both.
import PackageDescription

let package = Package(
    name: "mld",
    products: [
        .library(name: "MLD", targets: ["MLD"]),
        .library(name: "MLDOpenCL", targets: ["MLDOpenCL"]),
        .executable(name: "mld", targets: ["mld"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // MARK: System libraries (Debian -dev packages, installed by the Makefile)
        .systemLibrary(
            name: "COpenCL", path: "Sources/COpenCL",
            providers: [.apt(["ocl-icd-opencl-dev", "opencl-headers"])]),
        .systemLibrary(
            name: "CLAPACK", path: "Sources/CLAPACK",
            providers: [.apt(["liblapacke-dev"])]),
        .systemLibrary(
            name: "CLZMA", path: "Sources/CLZMA",
            providers: [.apt(["liblzma-dev"])]),
        .systemLibrary(
            name: "CNetCDF", path: "Sources/CNetCDF",
            providers: [.apt(["libnetcdf-dev"])]),

        // MARK: The science: pure Swift, never imports OpenCL
        .target(
            name: "MLD",
            dependencies: ["CLAPACK", "CLZMA", "CNetCDF", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"])]),

        // MARK: The OpenCL backend and its embedded kernel sources
        .target(name: "MLDOpenCL", dependencies: ["MLD", "COpenCL"]),

        // MARK: The command line
        .executableTarget(
            name: "mld",
            dependencies: [
                "MLD", "MLDOpenCL",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        // MARK: Tests
        .testTarget(name: "MLDTests", dependencies: ["MLD"], exclude: ["Fixtures"]),
        .testTarget(name: "MLDOpenCLTests", dependencies: ["MLD", "MLDOpenCL"]),
        .testTarget(name: "CLITests", dependencies: ["MLD"]),
        // The mutation fuzzer over the readers and the command line (`make test`: a fast run;
        // `make fuzz`: a million inputs).
        .testTarget(
            name: "FuzzTests",
            dependencies: ["MLD", "mld", "CLZMA", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
    ],
    swiftLanguageModes: [.v5]
)

import MLD

extension OpenCLModel {
    /// The kernels' view of a fitted model (Sources/MLD/Loss/LearnedModel.swift). Every block of
    /// the spec is either evaluated by the kernels or refused here with one line: a distance
    /// block (`nearest` or `radial`) first, then optionally labelled angles (with `nearest`) and
    /// angular sums, once each, in that order. Selfish and conservative agents alike.
    public init(_ model: LearnedModel) throws {
        let spec = model.invariants
        if let problem = spec.validationProblem() { throw MLDError.model(file: "model", problem: problem) }
        let invariants: Invariants
        switch spec.blocks.first {
        case let .nearest(near)?:
            invariants = .nearest(counts: near.counts, inverse: near.transform == .inverse, searchRadius: near.searchRadius)
        case let .radial(radial)?:
            let b = radial.basis
            let basis: Basis
            switch b.kind {
            case .gaussian: basis = .gaussian(centers: b.centres!, widths: Array(repeating: b.width!, count: b.count))
            case .inversePower: basis = .inversePower(powers: b.powers!)
            }
            invariants = .radial(basis: basis, cutoff: radial.cutoff)
        default:
            throw MLDError.model(file: "model", problem: "the OpenCL backend needs a nearest or radial block first")
        }
        var labelled: LabelledAngles?, sums: AngularSums?
        for block in spec.blocks.dropFirst() {
            switch block {
            case let .labelledAngles(a) where labelled == nil && sums == nil:
                labelled = a
            case let .angularSums(a) where sums == nil:
                sums = a
            default:
                throw MLDError.model(file: "model", problem: "the OpenCL backend does not evaluate the invariant blocks "
                    + spec.blocks.map(\.kind).joined(separator: " + ")
                    + " (it takes nearest or radial, then optionally labelled-angles, then optionally angular-sums)")
            }
        }
        self.init(speciesNames: model.species.map(\.symbol), invariants: invariants, labelledAngles: labelled,
                  angularSums: sums, linear: model.losses.map(\.w), quadratic: model.losses.map(\.W),
                  conservative: model.agents == .conservative)
        if spec.count != invariantCount {
            throw MLDError.model(file: "model", problem: "the OpenCL backend counts \(invariantCount) invariants where the model has \(spec.count)")
        }
        if let problem = unsupportedProblem { throw MLDError.model(file: "model", problem: problem) }
    }
}

extension OpenCLBackend {
    /// A backend for a fitted model on the atoms of `configuration` (its box and species).
    public convenience init(model: LearnedModel, configuration: Configuration, device: Int? = nil,
                            precision: OpenCLPrecision = .single, skin: Double = 1.0) throws {
        try model.check(elements: configuration.elements, box: configuration.box)
        let species = try model.speciesIndices(elements: configuration.elements, species: configuration.species)
        try self.init(model: try OpenCLModel(model), species: species.map(Int.init), box: configuration.box,
                      device: device, precision: precision, skin: skin)
    }
}

import Egress25Core

extension ExceptionStore {
    /// Adds a customer. Audit action `customer.add`.
    ///
    /// - Parameters:
    ///   - id: The ISP's id (account number): 1...64 characters from `A-Z a-z 0-9 . _ - : @`.
    ///   - name: Display name (at most 200 bytes), optional.
    ///   - note: Free text (at most 2000 bytes), optional.
    ///   - actor: Who adds it.
    ///   - now: UTC seconds.
    /// - Throws: ``ExceptionStoreError``: `invalidArgument`, `duplicateCustomer`, `locked`, `io`.
    @discardableResult
    public func addCustomer(
        id: String, name: String? = nil, note: String? = nil, actor: String, now: Int64 = UTCTime.now()
    ) throws(ExceptionStoreError) -> Customer {
        try Self.validateCustomerID(id)
        let customer = Customer(
            id: id,
            name: try Self.validateText(name, field: "the name", required: false, maximum: 200),
            note: try Self.validateText(note, field: "the note", required: false, maximum: 2000),
            createdAt: now)
        let actor = try Self.validateActor(actor)
        return try write("add customer \(id) to") { db in
            if try Self.fetchCustomer(db, id) != nil {
                throw ExceptionStoreError(.duplicateCustomer, "customer \(id) exists already")
            }
            try CustomerRecord(customer).insert(db)
            try appendAudit(
                db, at: now, actor: actor, action: "customer.add", customer: id, objectID: id,
                before: Customer?.none, after: customer)
            return customer
        }
    }

    /// The customer with this id, or `nil`.
    /// - Throws: ``ExceptionStoreError`` (`io`).
    public func customer(id: String) throws(ExceptionStoreError) -> Customer? {
        try read("read") { db in try Self.fetchCustomer(db, id) }
    }

    /// Every customer, ordered by id.
    /// - Throws: ``ExceptionStoreError`` (`io`).
    public func customers() throws(ExceptionStoreError) -> [Customer] {
        try read("read") { db in
            try db.rows("SELECT \(CustomerRecord.columns) FROM customer ORDER BY id").map {
                try CustomerRecord(row: $0).customer
            }
        }
    }

    /// Bindings, ordered by id (oldest first).
    ///
    /// - Parameters:
    ///   - customer: Only this customer's; `nil` for every customer.
    ///   - inForceAt: Only bindings in force at this time (UTC seconds); `nil` for the whole history.
    /// - Throws: ``ExceptionStoreError`` (`unknownCustomer` when `customer` does not exist, `io`).
    public func bindings(
        customer: String? = nil, inForceAt: Int64? = nil
    ) throws(ExceptionStoreError)
        -> [AddressBinding]
    {
        try read("read") { db in
            let filter = try Self.customerFilter(db, customer)
            var sql = "SELECT \(BindingRecord.columns) FROM binding WHERE 1 = 1" + filter.sql
            var arguments = filter.arguments
            if let inForceAt {
                sql += " AND valid_from <= ? AND (valid_until IS NULL OR valid_until > ?)"
                arguments += [.integer(inForceAt), .integer(inForceAt)]
            }
            return try db.rows(sql + " ORDER BY id", arguments).map(BindingRecord.binding)
        }
    }

    /// Binds `prefix` statically to the customer (the ISP's address plan). Audit action `binding.add`.
    ///
    /// Idempotent: when the customer already holds exactly this static binding, returns it and writes nothing.
    /// - Parameter plan: Bounds the prefix must satisfy (inside a subscriber range, not a larger block than
    ///   `sessions.max_prefix`); `nil` for none (`--force`).
    /// - Throws: ``ExceptionStoreError``: `invalidArgument` (bad id or actor, a prefix outside `plan`),
    ///   `unknownCustomer`, `conflict` (the prefix overlaps a binding of another customer in force), `locked`, `io`.
    @discardableResult
    public func bind(
        customer: String, prefix: IPPrefix, actor: String, now: Int64 = UTCTime.now(), plan: AddressPlan? = nil
    ) throws(ExceptionStoreError) -> AddressBinding {
        try Self.validateCustomerID(customer)
        let actor = try Self.validateActor(actor)
        let prefix = Self.canonical(prefix)
        if let plan, let problem = plan.problem(with: prefix) {
            throw ExceptionStoreError(.invalidArgument, problem)
        }
        return try write("bind \(prefix) in") { db in
            _ = try Self.requireCustomer(db, customer)
            let overlapping = try Self.openBindings(db, overlapping: prefix)
            if let same = overlapping.first(where: {
                $0.customer == customer && $0.kind == .static && $0.prefix == prefix
            }) {
                return same
            }
            if let other = overlapping.first(where: { $0.customer != customer }) {
                throw ExceptionStoreError(
                    .conflict,
                    "\(prefix) overlaps \(other.prefix), which customer \(other.customer) holds "
                        + "(\(other.kind.rawValue) binding since \(UTCTime.format(other.validFrom)))"
                )
            }
            let binding = try Self.insertBinding(db, customer: customer, prefix: prefix, kind: .static, now: now)
            try appendAudit(
                db, at: now, actor: actor, action: "binding.add", customer: customer, objectID: "binding-\(binding.id)",
                before: AddressBinding?.none, after: binding)
            return binding
        }
    }

    /// Ends the customer's static binding on exactly `prefix`. Audit action `binding.end`.
    /// - Returns: The ended binding (`validUntil == now`).
    /// - Throws: ``ExceptionStoreError``: `invalidArgument`, `unknownCustomer`, `unknownBinding`, `locked`, `io`.
    @discardableResult
    public func unbind(
        customer: String, prefix: IPPrefix, actor: String, now: Int64 = UTCTime.now()
    ) throws(ExceptionStoreError) -> AddressBinding {
        try Self.validateCustomerID(customer)
        let actor = try Self.validateActor(actor)
        let prefix = Self.canonical(prefix)
        return try write("unbind \(prefix) in") { db in
            _ = try Self.requireCustomer(db, customer)
            guard
                let binding = try Self.openBindings(db, customer: customer).first(where: {
                    $0.kind == .static && $0.prefix == prefix
                })
            else {
                throw ExceptionStoreError(.unknownBinding, "customer \(customer) has no static binding on \(prefix)")
            }
            let ended = try Self.endBinding(db, binding, now: now)
            try appendAudit(
                db, at: now, actor: actor, action: "binding.end", customer: customer, objectID: "binding-\(binding.id)",
                before: binding, after: ended)
            return ended
        }
    }
}

internal import CNetfilterQueue

#if canImport(Glibc)
import Glibc
#endif

/// One bound NFQUEUE queue: receives queued packets in batches and answers each with a verdict.
///
/// The only place in egress25 that touches netlink pointers and errno. It follows the design of
/// libnetfilter_queue's `nf-queue.c` example on libmnl, with batching on both directions:
/// `recvmmsg(2)` with `MSG_WAITFORONE` returns as soon as one packet is there and takes whatever
/// else is already queued (up to ``NetfilterQueueConfiguration/batchSize``); the verdicts of that batch
/// leave in one `sendto(2)` before the next receive, so a lone packet never waits for a batch to fill.
///
/// Not thread-safe: one socket belongs to one queue worker thread. Per batch it does no allocation.
public final class NetfilterQueueSocket {
    /// The configuration the queue was bound with.
    public let configuration: NetfilterQueueConfiguration
    /// The netlink port id of this socket (matches `portid` in `/proc/net/netfilter/nfnetlink_queue`).
    public let portID: UInt32

    /// Receive calls that returned ENOBUFS (the kernel dropped messages for this socket); never fatal.
    private(set) var receiveOverruns: UInt64 = 0
    /// Netlink error messages received in reply to verdicts (e.g. an id the kernel no longer knows).
    private(set) var verdictErrors: UInt64 = 0
    /// Messages that were truncated or unparseable (each still answered when its id was readable).
    private(set) var malformedMessages: UInt64 = 0

    private let socket: OpaquePointer
    /// The netlink socket's file descriptor (for diagnostics and fault injection; do not read or close it).
    public let descriptor: Int32
    private let slotSize: Int
    private let receiveStorage: UnsafeMutableRawBufferPointer
    private let iovecs: UnsafeMutableBufferPointer<iovec>
    private let messages: UnsafeMutableBufferPointer<CNetfilterQueue_mmsghdr>
    private let sendStorage: UnsafeMutableRawBufferPointer
    private let attributes: UnsafeMutableBufferPointer<UnsafeMutablePointer<nlattr>?>
    private var isClosed = false

    /// Opens a netlink socket, binds `configuration.queueNumber` for IPv4 and IPv6 and configures it
    /// (copy mode and range, max length, fail-open flag) in one `NFQNL_MSG_CONFIG` message.
    ///
    /// - Throws: ``NetfilterQueueError`` with code ``NetfilterQueueError/Code/missingCapability`` when the
    ///   process lacks CAP_NET_ADMIN, ``NetfilterQueueError/Code/queueAlreadyBound`` when another socket owns
    ///   the queue number (the kernel answers EPERM), ``NetfilterQueueError/Code/socketFailed`` or
    ///   ``NetfilterQueueError/Code/configurationRejected`` otherwise.
    public init(configuration: NetfilterQueueConfiguration) throws(NetfilterQueueError) {
        let queue = configuration.queueNumber
        precondition((1...1024).contains(configuration.batchSize), "batch size must be 1...1024")
        self.configuration = configuration

        func failure(
            _ code: NetfilterQueueError.Code, _ operation: String, _ number: Int32 = Glibc.errno
        )
            -> NetfilterQueueError
        {
            NetfilterQueueError(code: code, queue: queue, operation: operation, errno: number)
        }

        guard Capabilities.hasNetAdmin else {
            throw failure(.missingCapability, "bind", EPERM)
        }
        // Close-on-exec: a child process (the daemon's rules check runs nft/iptables) must not inherit the
        // socket, or the queue would stay bound to the child's copy after the worker closes it to rebind.
        guard let socket = mnl_socket_open2(NETLINK_NETFILTER, Int32(SOCK_CLOEXEC.rawValue)) else {
            throw failure(.socketFailed, "socket(NETLINK_NETFILTER)")
        }
        guard mnl_socket_bind(socket, 0, pid_t(MNL_SOCKET_AUTOPID)) >= 0 else {
            let error = failure(.socketFailed, "bind(netlink)")
            mnl_socket_close(socket)
            throw error
        }
        self.socket = socket
        self.descriptor = mnl_socket_get_fd(socket)
        self.portID = mnl_socket_get_portid(socket)

        // Buffers are allocated once; the receive loop only reuses them.
        let batch = configuration.batchSize
        self.slotSize = 4096
        self.receiveStorage = .allocate(byteCount: slotSize * batch, alignment: 16)
        self.iovecs = .allocate(capacity: batch)
        self.messages = .allocate(capacity: batch)
        self.sendStorage = .allocate(byteCount: VerdictEncoder.maximumMessageSize * batch, alignment: 16)
        self.attributes = .allocate(capacity: Int(CNetfilterQueue_NFQA_MAX) + 1)
        // `.allocate` never yields a nil base address, here and wherever the force unwraps below use one.
        for index in 0..<batch {
            iovecs[index] = iovec(iov_base: receiveStorage.baseAddress! + index * slotSize, iov_len: slotSize)
            var message = CNetfilterQueue_mmsghdr()
            message.msg_hdr.msg_iov = iovecs.baseAddress! + index
            message.msg_hdr.msg_iovlen = 1
            messages[index] = message
        }

        do {
            try configureSocket()
            try bindQueue()
        } catch {
            close()
            throw error
        }
    }

    deinit {
        close()
        receiveStorage.deallocate()
        iovecs.deallocate()
        messages.deallocate()
        sendStorage.deallocate()
        attributes.deallocate()
    }

    /// Closes the socket; the kernel unbinds the queue when its owner socket goes away.
    /// Packets still queued are then handled by the ruleset (dropped, or accepted with `bypass`).
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        mnl_socket_close(socket)
    }

    private func configureSocket() throws(NetfilterQueueError) {
        let queue = configuration.queueNumber
        var size = Int32(clamping: configuration.receiveBufferBytes)
        if setsockopt(descriptor, SOL_SOCKET, SO_RCVBUFFORCE, &size, socklen_t(MemoryLayout<Int32>.size)) < 0 {
            // Without CAP_NET_ADMIN in the socket's user namespace only SO_RCVBUF (capped by rmem_max) works.
            _ = setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        // The kernel drops messages when the receive buffer is full and would report ENOBUFS;
        // the drops stay visible in /proc/net/netfilter/nfnetlink_queue (KernelQueueCounters).
        var one: Int32 = 1
        if setsockopt(descriptor, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, socklen_t(MemoryLayout<Int32>.size)) < 0 {
            throw NetfilterQueueError(code: .socketFailed, queue: queue, operation: "NETLINK_NO_ENOBUFS", errno: errno)
        }
        let milliseconds = max(1, configuration.receiveTimeoutMilliseconds)
        var timeout = timeval(tv_sec: milliseconds / 1000, tv_usec: (milliseconds % 1000) * 1000)
        if setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size)) < 0 {
            throw NetfilterQueueError(code: .socketFailed, queue: queue, operation: "SO_RCVTIMEO", errno: errno)
        }
    }

    /// Bind + copy parameters + max length + flags, in one message, acknowledged by the kernel.
    private func bindQueue() throws(NetfilterQueueError) {
        let queue = configuration.queueNumber
        // Force unwraps: `sendStorage` comes from `.allocate` (never a nil base address); `nfq_nlmsg_put` returns
        // its buffer argument (libnetfilter_queue `nlmsg.c`), never NULL.
        let buffer = UnsafeMutableRawPointer(sendStorage.baseAddress!).assumingMemoryBound(to: CChar.self)
        let header = nfq_nlmsg_put(buffer, Int32(NFQNL_MSG_CONFIG.rawValue), UInt32(queue))!
        // Since Linux 3.8 the protocol family of the bind command is ignored: one queue serves IPv4 and IPv6.
        nfq_nlmsg_cfg_put_cmd(header, UInt16(AF_UNSPEC), UInt8(NFQNL_CFG_CMD_BIND.rawValue))
        nfq_nlmsg_cfg_put_params(header, UInt8(NFQNL_COPY_PACKET.rawValue), Int32(configuration.copyRange))
        nfq_nlmsg_cfg_put_qmaxlen(header, configuration.maxLength)
        let flags = configuration.failOpen ? UInt32(NFQA_CFG_F_FAIL_OPEN) : 0
        mnl_attr_put_u32(header, UInt16(NFQA_CFG_FLAGS.rawValue), flags.bigEndian)
        mnl_attr_put_u32(header, UInt16(NFQA_CFG_MASK.rawValue), UInt32(NFQA_CFG_F_FAIL_OPEN).bigEndian)
        header.pointee.nlmsg_flags |= UInt16(NLM_F_ACK)
        header.pointee.nlmsg_seq = 1

        guard mnl_socket_sendto(socket, header, Int(header.pointee.nlmsg_len)) >= 0 else {
            throw NetfilterQueueError(code: .socketFailed, queue: queue, operation: "send queue config", errno: errno)
        }
        let status = awaitAcknowledgement(sequence: 1)
        switch status {
        case 0:
            return
        case EPERM:
            // nfnetlink answers EPERM both without CAP_NET_ADMIN and when another port id owns the
            // queue; the capability was checked before, so this is the second case.
            throw NetfilterQueueError(code: .queueAlreadyBound, queue: queue, operation: "bind", errno: EPERM)
        case let number where number < 0:
            throw NetfilterQueueError(
                code: .socketFailed, queue: queue, operation: "receive config acknowledgement", errno: -number)
        default:
            throw NetfilterQueueError(code: .configurationRejected, queue: queue, operation: "configure", errno: status)
        }
    }

    /// Waits for the `NLMSG_ERROR` answering `sequence`. Returns 0 on success, a positive errno the kernel
    /// reported, or a negative errno if receiving failed. Packets that arrive first (traffic can be queued as
    /// soon as the bind is processed) are answered with `NF_REPEAT`, so the kernel queues them again and the
    /// receive loop judges them.
    private func awaitAcknowledgement(sequence: UInt32) -> Int32 {
        let buffer = receiveStorage.baseAddress!  // From `.allocate`: never nil.
        for _ in 0..<10_000 {
            let received = recv(descriptor, buffer, slotSize, 0)
            if received < 0 {
                if errno == EINTR || errno == ENOBUFS { continue }
                return -errno
            }
            var remaining = Int32(received)
            var message: UnsafePointer<nlmsghdr>? = UnsafePointer(buffer.assumingMemoryBound(to: nlmsghdr.self))
            while let current = message, mnl_nlmsg_ok(current, remaining) {
                if current.pointee.nlmsg_type == UInt16(NLMSG_ERROR) {
                    if current.pointee.nlmsg_seq == sequence {
                        let error = UnsafeRawPointer(current).advanced(by: MemoryLayout<nlmsghdr>.size)
                            .loadUnaligned(as: Int32.self)
                        return -error
                    }
                } else if Int32(current.pointee.nlmsg_type) & 0xff == Int32(NFQNL_MSG_PACKET.rawValue),
                    let id = packetID(of: current)
                {
                    var encoder = VerdictEncoder(buffer: sendStorage, queueNumber: configuration.queueNumber)
                    encoder.append(id: id, verdict: PacketVerdict(verdict: UInt32(NF_REPEAT), mark: nil))
                    _ = mnl_socket_sendto(socket, encoder.bytes.baseAddress, encoder.count)
                }
                message = UnsafePointer(mnl_nlmsg_next(current, &remaining))
            }
        }
        return -ETIMEDOUT
    }

    private func packetID(of message: UnsafePointer<nlmsghdr>) -> UInt32? {
        guard nfq_nlmsg_parse(message, attributes.baseAddress) >= 0,
            let header = attributes[Int(NFQA_PACKET_HDR.rawValue)]
        else { return nil }
        return UInt32(bigEndian: mnl_attr_get_payload(header).loadUnaligned(as: UInt32.self))
    }

    /// Receives one batch of queued packets, calls `judge` once per packet, and sends all the batch's
    /// verdicts in one `sendto(2)`.
    ///
    /// Blocks at most ``NetfilterQueueConfiguration/receiveTimeoutMilliseconds`` when nothing is queued.
    /// Every packet whose id can be read gets a verdict, including those whose message was truncated
    /// (they are judged with an empty payload).
    ///
    /// - Returns: The number of packets judged (0 after a timeout, a signal or ENOBUFS).
    /// - Throws: ``NetfilterQueueError`` with code ``NetfilterQueueError/Code/receiveFailed`` or
    ///   ``NetfilterQueueError/Code/sendFailed`` when the socket is no longer usable.
    @inline(__always)
    public func receiveBatch(_ judge: (QueuedPacket) -> PacketVerdict) throws(NetfilterQueueError) -> Int {
        let received = CNetfilterQueue_recvmmsg(
            descriptor, messages.baseAddress, UInt32(configuration.batchSize), CNetfilterQueue_MSG_WAITFORONE, nil)
        if received < 0 {
            switch errno {
            case EINTR, EAGAIN, EWOULDBLOCK:
                return 0
            case ENOBUFS:
                receiveOverruns &+= 1
                return 0
            default:
                throw NetfilterQueueError(
                    code: .receiveFailed, queue: configuration.queueNumber, operation: "recvmmsg", errno: errno)
            }
        }
        var encoder = VerdictEncoder(buffer: sendStorage, queueNumber: configuration.queueNumber)
        var judged = 0
        for index in 0..<Int(received) {
            let slot = receiveStorage.baseAddress! + index * slotSize  // From `.allocate`: never nil.
            let length = Int(messages[index].msg_len)
            if messages[index].msg_hdr.msg_flags & Int32(MSG_TRUNC) != 0 {
                malformedMessages &+= 1
                if let id = truncatedPacketID(slot, length: length) {
                    encoder.append(
                        id: id,
                        verdict: judge(
                            QueuedPacket(
                                id: id, hardwareProtocol: 0, hook: 0, mark: 0,
                                payload: UnsafeRawBufferPointer(start: nil, count: 0))))
                    judged += 1
                }
                continue
            }
            var remaining = Int32(length)
            var message: UnsafePointer<nlmsghdr>? = UnsafePointer(slot.assumingMemoryBound(to: nlmsghdr.self))
            while let current = message, mnl_nlmsg_ok(current, remaining) {
                defer { message = UnsafePointer(mnl_nlmsg_next(current, &remaining)) }
                let type = current.pointee.nlmsg_type
                if type == UInt16(NLMSG_ERROR) {
                    verdictErrors &+= 1
                    continue
                }
                guard Int32(type) & 0xff == Int32(NFQNL_MSG_PACKET.rawValue), encoder.hasCapacity else { continue }
                for slot in 0...Int(CNetfilterQueue_NFQA_MAX) { attributes[slot] = nil }
                guard nfq_nlmsg_parse(current, attributes.baseAddress) >= 0,
                    let headerAttribute = attributes[Int(NFQA_PACKET_HDR.rawValue)],
                    mnl_attr_get_payload_len(headerAttribute) >= 7
                else {
                    malformedMessages &+= 1
                    continue
                }
                // `mnl_attr_get_payload` returns the attribute's address plus its header length (libmnl `attr.c`),
                // never NULL for a non-NULL attribute; here and for the mark below.
                let header = UnsafeRawPointer(mnl_attr_get_payload(headerAttribute)!)
                let id = UInt32(bigEndian: header.loadUnaligned(as: UInt32.self))
                let hardwareProtocol = UInt16(bigEndian: header.loadUnaligned(fromByteOffset: 4, as: UInt16.self))
                let hook = header.load(fromByteOffset: 6, as: UInt8.self)
                var mark: UInt32 = 0
                if let markAttribute = attributes[Int(NFQA_MARK.rawValue)] {
                    mark = UInt32(
                        bigEndian: UnsafeRawPointer(mnl_attr_get_payload(markAttribute)!)
                            .loadUnaligned(as: UInt32.self))
                }
                var payload = UnsafeRawBufferPointer(start: nil, count: 0)
                if let payloadAttribute = attributes[Int(NFQA_PAYLOAD.rawValue)] {
                    payload = UnsafeRawBufferPointer(
                        start: mnl_attr_get_payload(payloadAttribute),
                        count: Int(mnl_attr_get_payload_len(payloadAttribute)))
                }
                let packet = QueuedPacket(
                    id: id, hardwareProtocol: hardwareProtocol, hook: hook, mark: mark, payload: payload)
                encoder.append(id: id, verdict: judge(packet))
                judged += 1
            }
        }
        if encoder.count > 0 {
            try send(encoder.bytes)
        }
        return judged
    }

    /// Reads the packet id of a truncated `NFQNL_MSG_PACKET`: the kernel puts `NFQA_PACKET_HDR` first.
    private func truncatedPacketID(_ slot: UnsafeMutableRawPointer, length: Int) -> UInt32? {
        let headerSize = MemoryLayout<nlmsghdr>.size + MemoryLayout<nfgenmsg>.size
        guard length >= headerSize + 4 + 4 else { return nil }
        let type = slot.loadUnaligned(fromByteOffset: 4, as: UInt16.self)
        guard Int32(type) & 0xff == Int32(NFQNL_MSG_PACKET.rawValue) else { return nil }
        let attributeType = slot.loadUnaligned(fromByteOffset: headerSize + 2, as: UInt16.self)
        guard attributeType & CNetfilterQueue_NLA_TYPE_MASK == UInt16(NFQA_PACKET_HDR.rawValue) else { return nil }
        return UInt32(bigEndian: slot.loadUnaligned(fromByteOffset: headerSize + 4, as: UInt32.self))
    }

    private func send(_ bytes: UnsafeRawBufferPointer) throws(NetfilterQueueError) {
        var attempts = 0
        while true {
            if mnl_socket_sendto(socket, bytes.baseAddress, bytes.count) >= 0 { return }
            let number = errno
            attempts += 1
            // EINTR: retry. ENOBUFS/EAGAIN on a netlink send is transient memory pressure: retry briefly.
            if (number == EINTR || number == ENOBUFS || number == EAGAIN) && attempts < 100 { continue }
            throw NetfilterQueueError(
                code: .sendFailed, queue: configuration.queueNumber, operation: "sendto(verdicts)", errno: number)
        }
    }
}

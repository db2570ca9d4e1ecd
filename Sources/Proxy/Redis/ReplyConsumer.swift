/// Receives the outcome of one request sent to a backend. Called on the loop that owns both.
protocol ReplyConsumer: AnyObject {
    /// The backend's reply to the request sent with `tag`; `reply` is only valid during the call.
    func backendReplied(tag: UInt64, reply: UnsafeRawBufferPointer)
    /// The request sent with `tag` will get no reply from this backend. `request` is the frame that was
    /// sent (so it can be retried elsewhere or kept for later delivery) and `reply` the error to answer
    /// with; both are only valid during the call.
    func backendFailed(tag: UInt64, request: UnsafeRawBufferPointer, reply: UnsafeRawBufferPointer)
}

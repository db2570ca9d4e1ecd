/// Receives the outcome of one request sent to a backend. Called on the loop that owns both.
protocol ReplyConsumer: AnyObject {
    /// The backend's reply to the request sent with `tag`; `reply` is only valid during the call.
    func backendReplied(tag: UInt64, reply: UnsafeRawBufferPointer)
    /// The request sent with `tag` will get no reply from the backend; `reply` is the error to answer with.
    func backendFailed(tag: UInt64, reply: UnsafeRawBufferPointer)
}

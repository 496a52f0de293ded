import NIOCore

/// Runs a task's jobs on one SwiftNIO event loop.
///
/// A request handled on its connection's event loop reads, calls upstream (whose connection is
/// preferably on the same loop) and writes without handing work to another thread: on this
/// project's 2-core machine each such hand-off costs more than the gateway's own work.
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

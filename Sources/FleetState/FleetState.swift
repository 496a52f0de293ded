// FleetState: the state replicas of one deployment share through Redis, so that a budget or a
// rate limit means the same with three replicas as with one. `RedisFleetStore` implements
// Governance's `FleetQuotaStore` and SwitchyardCore's `FleetSlotStore` (concurrency slots and
// the fleet's fair-share queue) with one atomic script per lease step (`LeaseScripts`) over a
// hiredis connection (`RedisConnection`, on a thread of its own: only background lease work and
// the last requests of a quota use it, never a request whose lease has room).
//
// May import: CHiredis, Governance (the protocol it implements and its types), SwitchyardCore.

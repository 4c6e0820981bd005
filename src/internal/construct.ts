/**
 * Builds `Schema.Class` instances on the call path without running their
 * constructor, for values made from values that are already valid (a response
 * with its cost or route attached, an attempt record, a cache entry).
 *
 * Why by hand: even with validation disabled (`new X(props, true)`), a Schema class
 * constructor copies the props and walks every field looking for constructor
 * defaults; measured here that is 1-15 µs per instance (the most when a default is
 * filled in or optional fields are absent), and a call through the full stack built
 * a dozen of them. What the constructor leaves behind is no more than the class
 * prototype plus the props as own enumerable properties (`Data.Class` does
 * `Object.assign(this, props)`), which is what {@link make} builds, in ~0.2 µs.
 *
 * The props must be complete: fields with a constructor default (`toolCalls`,
 * `attempts`, `_tag`, the `Usage` counters) are required by the type, exactly as
 * the class's type side declares them, so an instance made here has the same keys
 * (and so the same `Equal`/`Hash`) as one from `new`. Nothing is validated: use it
 * only for values built from already-validated parts.
 */
import type { Schema } from "effect"

/** A Schema class (or tagged class): its prototype and its fields. */
export interface SchemaClass<A> {
  readonly prototype: A
  readonly fields: Schema.Struct.Fields
}

/** The instance of `Class` holding `props`, without its constructor (see the module comment). */
export const make = <C extends SchemaClass<object>>(
  Class: C,
  props: Schema.Struct.Type<C["fields"]>
): C["prototype"] => Object.assign(Object.create(Class.prototype) as C["prototype"], props)

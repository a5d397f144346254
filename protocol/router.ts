/**
 * Typed request routing: a server declares one function per message it serves, and gets a
 * {@linkcode RequestHandler} that dispatches on the message name. A message without a route
 * is refused with `INVALID_ARGUMENT`, naming it.
 */
import type { IncomingRequest, RequestHandler } from "./connection.js";
import { BigFsError } from "./errors.js";
import type { MessageName, RequestOf, ResponseOf } from "./messages.js";

/** Handlers by message name; each receives the checked request body. */
export type Routes = {
  [N in MessageName]?: (body: RequestOf<N>, request: IncomingRequest<N>) => Promise<ResponseOf<N>>;
};

/** Builds a request handler from routes; `serverName` names the server in refusals. */
export function route(routes: Routes, serverName: string): RequestHandler {
  return (request) => {
    const handler = routes[request.name] as
      | ((body: unknown, request: IncomingRequest) => Promise<unknown>)
      | undefined;
    if (handler === undefined) {
      return Promise.reject(
        new BigFsError(
          "INVALID_ARGUMENT",
          `Cannot serve ${request.name}: the ${serverName} does not offer it`,
        ),
      );
    }
    return handler(request.body, request);
  };
}

/**
 * iotp-connector-api: the data connector's request API between core `http in` and `http response`
 * nodes. POST → raise a request (`{"task_id", "status": "task submitted"}`); GET with `:id` →
 * the task's state. Authentication (`Authorization: Bearer <API_KEY>`, constant-time) and every
 * answer come from lib/connector/auth.ts; this node only moves them onto the message
 * (`msg.statusCode`, `msg.headers`, `msg.payload`) for the http response node.
 */
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import { checkApiKey, handleGetTask, handleRaiseRequest, type HttpAnswer, type RequestApiEngine } from '../../lib/connector/auth';
import { ConnectorError } from '../../lib/connector/errors';
import { settingText } from '../../lib/connector/settings';
import type { BatchPostNode } from '../shared/config-nodes';
import { defineNode } from '../shared/define-node';
import { credentialOrEnv } from '../shared/flow-env';

interface ApiNodeDef extends NodeDef {
  connector: string;
  version?: number;
}

interface ApiCredentials {
  apiKey?: string;
}

interface HttpInMessage extends NodeMessageInFlow {
  req?: { method?: string; headers?: Record<string, string | string[] | undefined>; params?: Record<string, string> };
  statusCode?: number;
  headers?: Record<string, string>;
  task_id?: unknown;
}

export default function register(RED: NodeAPI): void {
  defineNode<ApiNodeDef, Node<ApiCredentials>>(RED, {
    type: 'iotp-connector-api',
    credentials: {
      apiKey: { type: 'password' },
    },
    setup({ node, config: settings, status, onInput }) {
      // An unset ${API_KEY} stays unresolved: no key, and every request is refused with 503.
      const apiKey = settingText(credentialOrEnv(RED, node, node.credentials?.apiKey, 'API_KEY'));
      let served = 0;
      let refused = 0;

      if (apiKey === undefined) {
        node.warn(RED._('iotp-connector-api.errors.noApiKey'));
        status.set({ fill: 'red', shape: 'ring', text: RED._('iotp-connector-api.status.noApiKey') });
      }

      /**
       * Looked up per request: the bound node may be created after this one, or redeployed. Without
       * a (resolvable) binding, the one batch-post node on this node's tab serves: node ids change when
       * a flow is imported as a copy, and Node-RED only remaps wires and config-node references.
       */
      function boundNode(): BatchPostNode | null {
        let target = settings.connector ? (RED.nodes.getNode(settings.connector) as BatchPostNode | null) : null;
        if (!target) {
          const candidates: string[] = [];
          RED.nodes.eachNode((n: { id: string; type: string; z?: string }) => {
            if (n.type === 'iotp-batch-post' && n.z === settings.z) candidates.push(n.id);
          });
          if (candidates.length === 1) target = RED.nodes.getNode(candidates[0]) as BatchPostNode | null;
        }
        return target?.requestApi ? target : null;
      }

      function connector(): RequestApiEngine {
        const target = boundNode();
        if (target) return target.requestApi;
        const reason = RED._('iotp-connector-api.errors.noConnector');
        const refuse = (): never => {
          throw new ConnectorError('NOT_READY', reason);
        };
        return { submit: refuse, getTask: refuse };
      }

      onInput<HttpInMessage>((msg, send, done) => {
        // A request arriving while the connector starts (opening its outbox) waits for it.
        void (boundNode()?.ready ?? Promise.resolve()).then(() => answer(msg, send, done));
      });

      function answer(msg: HttpInMessage, send: (msg: HttpInMessage) => void, done: () => void): void {
        const method = String(msg.req?.method ?? 'POST').toUpperCase();
        const authorization = msg.req?.headers?.authorization;
        let reply: HttpAnswer;
        if (method === 'POST') {
          reply = handleRaiseRequest({ authorization, body: msg.payload }, apiKey, connector());
        } else if (method === 'GET') {
          reply = handleGetTask({ authorization, taskId: msg.req?.params?.id ?? msg.task_id }, apiKey, connector());
        } else {
          reply = checkApiKey(authorization, apiKey) ?? {
            status: 405,
            body: { detail: 'use POST to raise a request, GET for a task' },
            headers: { 'Content-Type': 'application/json', Allow: 'GET, POST' },
          };
        }
        msg.statusCode = reply.status;
        msg.headers = reply.headers;
        msg.payload = reply.body;
        if (reply.status < 400) served += 1;
        else refused += 1;
        if (apiKey !== undefined) {
          status.set({
            fill: reply.status < 400 ? 'green' : 'yellow',
            shape: 'dot',
            text: RED._('iotp-connector-api.status.counts', { served, refused, last: reply.status }),
          });
        }
        send(msg);
        done();
      }
    },
  });
}

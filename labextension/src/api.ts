/**
 * The client of the server extension (wif_notebook/jupyter_server_ext.py, under /wif/api/) and a
 * shared model of the kit's status: the panel and the status-bar item draw from the same poll.
 */

import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

import { IStatusPayload } from './render/types';

/** A failed call, with the server's "what failed" and "what to do next". */
export class WifApiError extends Error {
  constructor(
    message: string,
    readonly hint: string = ''
  ) {
    super(message);
  }
}

export async function requestAPI<T>(endpoint: string, init: RequestInit = {}): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'wif', 'api', endpoint);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (err) {
    throw new WifApiError(`cannot reach the Jupyter server (${String(err)})`, 'is JupyterLab still running?');
  }
  const text = await response.text();
  let data: any = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    if (response.status === 404) {
      throw new WifApiError(
        'the wif-notebook server extension is not enabled',
        'run `jupyter server extension enable wif_notebook.jupyter_server_ext` and restart JupyterLab'
      );
    }
    throw new WifApiError(data?.message ?? `${response.status} ${response.statusText}`, data?.hint ?? '');
  }
  return data as T;
}

/**
 * Where JupyterLab can open a lesson: its path relative to the server's root. A lesson installed
 * outside the root (from a wheel) is copied into wif-lessons/ by the server first.
 */
export async function lessonPath(id: string): Promise<string> {
  const answer = await requestAPI<{ path: string }>('lessons/open', {
    method: 'POST',
    body: JSON.stringify({ id })
  });
  return answer.path;
}

export type ServiceAction = 'start' | 'stop' | 'reset';

/** How often to ask while someone looks at the panel, and otherwise (status bar only). */
export const POLL_VISIBLE_MS = 3000;
export const POLL_BACKGROUND_MS = 15000;

export class StatusModel {
  private _status: IStatusPayload | null = null;
  private _error: WifApiError | null = null;
  private _busy: string | null = null;
  private _changed = new Signal<this, void>(this);
  private _timer: ReturnType<typeof setTimeout> | null = null;
  private _watchers = 0;
  private _disposed = false;

  get status(): IStatusPayload | null {
    return this._status;
  }

  get error(): WifApiError | null {
    return this._error;
  }

  /** What is happening right now ("starting the services…"), or null. */
  get busy(): string | null {
    return this._busy;
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  async refresh(): Promise<void> {
    try {
      this._status = await requestAPI<IStatusPayload>('status');
      this._error = null;
    } catch (err) {
      this._error = err instanceof WifApiError ? err : new WifApiError(String(err));
    }
    this._changed.emit();
  }

  async act(action: ServiceAction, body: Record<string, unknown> = {}): Promise<void> {
    const words = { start: 'starting', stop: 'stopping', reset: 'resetting' }[action];
    this._busy = `${words} the services…`;
    this._changed.emit();
    try {
      await requestAPI(`services/${action}`, { method: 'POST', body: JSON.stringify(body) });
      this._error = null;
    } catch (err) {
      this._error = err instanceof WifApiError ? err : new WifApiError(String(err));
    } finally {
      this._busy = null;
    }
    await this.refresh();
  }

  /** Called when a view becomes visible or hidden: poll fast only while someone is looking. */
  watch(visible: boolean): void {
    this._watchers = Math.max(0, this._watchers + (visible ? 1 : -1));
    if (visible) {
      void this.refresh();
    }
    this._schedule();
  }

  start(): void {
    void this.refresh();
    this._schedule();
  }

  dispose(): void {
    this._disposed = true;
    if (this._timer !== null) {
      clearTimeout(this._timer);
    }
  }

  private _schedule(): void {
    if (this._disposed) {
      return;
    }
    if (this._timer !== null) {
      clearTimeout(this._timer);
    }
    const delay = this._watchers > 0 ? POLL_VISIBLE_MS : POLL_BACKGROUND_MS;
    this._timer = setTimeout(() => {
      const skip = typeof document !== 'undefined' && document.visibilityState === 'hidden';
      void (skip ? Promise.resolve() : this.refresh()).then(() => this._schedule());
    }, delay);
  }
}

// File uploads with progress: a multipart POST through XMLHttpRequest (fetch reports no
// upload progress), failing the same way apiFetch does (ApiError with the problem, or
// NetworkError). Used for chat attachments and knowledge-base documents.
import { NetworkError, apiErrorFrom } from "./api";

export interface UploadRequest {
  url: string;
  file: File;
  /** Extra form parts (title, source_url …); empty values are left out. */
  fields?: Record<string, string | undefined>;
  token: string;
  /** Fraction sent, 0..1. */
  onProgress?(fraction: number): void;
  signal?: AbortSignal;
}

export function uploadWithProgress<T>(req: UploadRequest): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const form = new FormData();
    form.append("file", req.file, req.file.name);
    for (const [name, value] of Object.entries(req.fields ?? {})) {
      if (value !== undefined && value.trim() !== "") form.append(name, value.trim());
    }
    const xhr = new XMLHttpRequest();
    xhr.open("POST", req.url);
    xhr.setRequestHeader("Authorization", `Bearer ${req.token}`);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && e.total > 0) req.onProgress?.(Math.min(1, e.loaded / e.total));
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        req.onProgress?.(1);
        try {
          resolve(JSON.parse(xhr.responseText) as T);
        } catch {
          reject(new NetworkError("the answer was cut off"));
        }
        return;
      }
      reject(apiErrorFrom(xhr.status, xhr.responseText, xhr.getResponseHeader("retry-after")));
    };
    xhr.onerror = () => reject(new NetworkError("upload failed"));
    xhr.onabort = () => reject(new DOMException("upload cancelled", "AbortError"));
    req.signal?.addEventListener("abort", () => xhr.abort(), { once: true });
    xhr.send(form);
  });
}

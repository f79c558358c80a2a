// Posting a file straight to the bucket with the presigned form from POST /uploads.
// XMLHttpRequest rather than fetch: only it reports upload progress.

/**
 * POST ``file`` to ``upload.url``: every presigned field first, the file last under the
 * name ``file`` (S3's rule for POST policies). ``onProgress(fraction)`` follows the bytes.
 * Resolves when storage accepted the object; rejects with an Error a person can read.
 */
export function postToStorage(upload, file, onProgress = () => {}) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(upload.fields)) form.append(name, value);
    form.append("file", file);

    const request = new XMLHttpRequest();
    request.open("POST", upload.url);
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable && event.total > 0) onProgress(event.loaded / event.total);
    });
    request.addEventListener("load", () => {
      if (request.status >= 200 && request.status < 300) {
        onProgress(1);
        resolve();
      } else {
        reject(new Error(storageMessage(request)));
      }
    });
    request.addEventListener("error", () => {
      reject(new Error("The upload to storage failed: the connection dropped or storage refused this page."));
    });
    request.addEventListener("timeout", () => reject(new Error("The upload to storage timed out.")));
    request.send(form);
  });
}

function storageMessage(request) {
  // S3 answers errors in XML: <Error><Code>EntityTooLarge</Code><Message>...</Message></Error>
  try {
    const xml = new DOMParser().parseFromString(request.responseText || "", "application/xml");
    const code = xml.querySelector("Code")?.textContent;
    const message = xml.querySelector("Message")?.textContent;
    if (code === "EntityTooLarge") return "Storage refused the file: it is over the size limit.";
    if (code === "AccessDenied" && /expired/i.test(message ?? "")) {
      return "The upload link expired before the file was sent. Please try again.";
    }
    if (message) return `Storage refused the file: ${message}`;
  } catch {
    // fall through to the status line
  }
  return `Storage refused the file (HTTP ${request.status}).`;
}

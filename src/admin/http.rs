//! Just enough HTTP/1.1 for the admin endpoints: one request per
//! connection, parsed with `httparse`, bounded in size and time.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Largest request head we read.
const MAX_REQUEST: usize = 8192;
/// How long a client may take to send its request or read the response.
const TIMEOUT: Duration = Duration::from_secs(2);

/// A parsed request.
#[derive(Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Query-string parameters, percent-decoded, in order.
    pub query: Vec<(String, String)>,
    /// The `Authorization` header's value, when sent.
    pub authorization: Option<String>,
}

/// A response: a status and a body of one content type.
#[derive(Debug)]
pub struct Response {
    status: u16,
    content_type: &'static str,
    body: String,
}

impl Response {
    /// A JSON response.
    pub fn json(status: u16, body: &serde_json::Value) -> Response {
        let mut body = serde_json::to_string_pretty(body).unwrap_or_else(|_| "{}".to_owned());
        body.push('\n');
        Response {
            status,
            content_type: "application/json",
            body,
        }
    }

    /// A Prometheus text-format response (exposition format 0.0.4).
    pub fn prometheus(body: String) -> Response {
        Response {
            status: 200,
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            body,
        }
    }

    fn reason(&self) -> &'static str {
        match self.status {
            200 => "OK",
            400 => "Bad Request",
            401 => "Unauthorized",
            404 => "Not Found",
            409 => "Conflict",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            413 => "Payload Too Large",
            503 => "Service Unavailable",
            _ => "Error",
        }
    }
}

/// Answers 503 without reading (too many requests in progress) and closes;
/// never blocks.
pub fn refuse_busy(mut stream: TcpStream) {
    let _ = stream.set_nonblocking(true);
    let body = r#"{"error": "too many admin requests in progress; retry"}"#;
    let _ = stream.write_all(
        format!(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
}

/// Reads one request from `stream` (all of it within [`TIMEOUT`], however
/// slowly it trickles in), answers it with `route`, closes.
pub fn serve_connection(mut stream: TcpStream, route: impl FnOnce(&Request) -> Response) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(TIMEOUT));
    let deadline = Instant::now() + TIMEOUT;
    let response = match read_request(&mut stream, deadline) {
        Ok(request) => route(&request),
        Err(response) => response,
    };
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}Connection: close\r\n\r\n",
        response.status,
        response.reason(),
        response.content_type,
        response.body.len(),
        if response.status == 401 {
            "WWW-Authenticate: Bearer realm=\"dnslb\"\r\n"
        } else {
            ""
        }
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(response.body.as_bytes());
}

fn bad_request(message: &str) -> Response {
    Response::json(400, &serde_json::json!({ "error": message }))
}

fn read_request(stream: &mut TcpStream, deadline: Instant) -> Result<Request, Response> {
    let mut buffer = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let too_slow = || {
        Response::json(
            408,
            &serde_json::json!({ "error": "request not received in time" }),
        )
    };
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() || stream.set_read_timeout(Some(remaining)).is_err() {
            return Err(too_slow());
        }
        let read = stream
            .read(&mut chunk)
            .map_err(|error| match error.kind() {
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => too_slow(),
                _ => bad_request("the connection failed before the request ended"),
            })?;
        if read == 0 {
            return Err(bad_request("connection closed before the request ended"));
        }
        buffer.extend_from_slice(&chunk[..read]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&buffer) {
            Ok(httparse::Status::Complete(_)) => {
                let method = request.method.unwrap_or("").to_owned();
                let target = request.path.unwrap_or("/");
                let (path, query) = target.split_once('?').unwrap_or((target, ""));
                let authorization = request
                    .headers
                    .iter()
                    .find(|header| header.name.eq_ignore_ascii_case("authorization"))
                    .map(|header| String::from_utf8_lossy(header.value).into_owned());
                return Ok(Request {
                    method,
                    path: path.to_owned(),
                    query: parse_query(query),
                    authorization,
                });
            }
            Ok(httparse::Status::Partial) if buffer.len() < MAX_REQUEST => continue,
            Ok(httparse::Status::Partial) => {
                return Err(Response::json(
                    413,
                    &serde_json::json!({ "error": "request head too large" }),
                ));
            }
            Err(error) => return Err(bad_request(&format!("malformed request: {error}"))),
        }
    }
}

/// `a=1&b=x%2Fy` into pairs, percent- and plus-decoded.
fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => out.push(b' '),
            b'%' if index + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(byte) => {
                        out.push(byte);
                        index += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_decode() {
        assert_eq!(
            parse_query("name=www.example.com&type=A&ecs=198.51.100.0%2F24&x=a+b&flag"),
            vec![
                ("name".to_owned(), "www.example.com".to_owned()),
                ("type".to_owned(), "A".to_owned()),
                ("ecs".to_owned(), "198.51.100.0/24".to_owned()),
                ("x".to_owned(), "a b".to_owned()),
                ("flag".to_owned(), String::new()),
            ]
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}

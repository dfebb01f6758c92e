//! Helpers shared by the integration tests: an HTTP client with the simulator's login, and a
//! small XML tree for checking response documents.

#![allow(dead_code)]

use std::time::Duration;

use quick_xml::events::Event;
use reqwest::blocking::Client;
use reqwest::header::HeaderMap;

use qualys_sim::{SimConfig, Simulator};

pub const USERNAME: &str = "pcsync";
pub const PASSWORD: &str = "sim-password";
pub const LIST_PATH: &str = "/api/5.0/fo/compliance/policy/";
pub const CONTROL_PATH: &str = "/api/5.0/fo/compliance/control/";
pub const POSTURE_PATH: &str = "/api/5.0/fo/compliance/posture/info/";

pub fn start(config: SimConfig) -> Simulator {
    Simulator::start(config).expect("simulator starts")
}

pub fn start_default() -> Simulator {
    start(SimConfig::default())
}

pub fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("HTTP client builds")
}

/// A complete response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    pub fn xml(&self) -> Element {
        parse_xml(&self.body)
    }
}

fn read(response: reqwest::blocking::Response) -> Reply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.text().expect("body reads completely");
    Reply {
        status,
        headers,
        body,
    }
}

/// Sends GET `path_and_query` with the right login and `X-Requested-With`.
pub fn get(sim: &Simulator, path_and_query: &str) -> Reply {
    let response = client()
        .get(format!("{}{path_and_query}", sim.base_url()))
        .basic_auth(USERNAME, Some(PASSWORD))
        .header("X-Requested-With", "qualys-sim tests")
        .send()
        .expect("request succeeds");
    read(response)
}

/// Sends GET with a caller-built request, for the error cases.
pub fn send(request: reqwest::blocking::RequestBuilder) -> Reply {
    read(request.send().expect("request succeeds"))
}

/// Fetches the policy list with these parameters.
pub fn list(sim: &Simulator, query: &str) -> Reply {
    get(sim, &format!("{LIST_PATH}?{query}"))
}

/// Exports a policy with these parameters (after `action=export&`).
pub fn export(sim: &Simulator, query: &str) -> Reply {
    get(sim, &format!("{LIST_PATH}?action=export&{query}"))
}

/// Fetches the control list with these parameters.
pub fn control_list(sim: &Simulator, query: &str) -> Reply {
    get(sim, &format!("{CONTROL_PATH}?{query}"))
}

/// Fetches the posture info with these parameters (after `action=list&`).
pub fn posture_info(sim: &Simulator, query: &str) -> Reply {
    get(sim, &format!("{POSTURE_PATH}?action=list&{query}"))
}

/// An element with its attributes, child elements and text (text and CDATA concatenated).
#[derive(Debug, Clone, Default)]
pub struct Element {
    pub name: String,
    pub attributes: Vec<(String, String)>,
    pub children: Vec<Element>,
    pub text: String,
}

impl Element {
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|child| child.name == name)
    }

    pub fn children_named(&self, name: &str) -> Vec<&Element> {
        self.children
            .iter()
            .filter(|child| child.name == name)
            .collect()
    }

    /// Follows a `/`-separated path of child names.
    pub fn at(&self, path: &str) -> Option<&Element> {
        path.split('/')
            .try_fold(self, |element, name| element.child(name))
    }

    /// Returns the text at a path, or panics naming the path.
    pub fn text_at(&self, path: &str) -> String {
        self.at(path)
            .unwrap_or_else(|| panic!("no {path} in {}", self.name))
            .text
            .clone()
    }

    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Parses a document and returns its root element. Panics on malformed XML.
pub fn parse_xml(text: &str) -> Element {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<Element> = vec![Element::default()];
    loop {
        let event = reader
            .read_event()
            .unwrap_or_else(|error| panic!("malformed XML ({error}):\n{text}"));
        match event {
            Event::Start(start) => stack.push(open(&start)),
            Event::Empty(start) => {
                let element = open(&start);
                stack.last_mut().expect("parent").children.push(element);
            }
            Event::End(_) => {
                let element = stack.pop().expect("open element");
                stack.last_mut().expect("parent").children.push(element);
            }
            Event::Text(content) => {
                let content = content.unescape().expect("valid entities");
                stack.last_mut().expect("element").text.push_str(&content);
            }
            Event::CData(content) => {
                let content = String::from_utf8(content.into_inner().into_owned()).expect("UTF-8");
                stack.last_mut().expect("element").text.push_str(&content);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(stack.len(), 1, "unclosed elements in:\n{text}");
    let document = stack.pop().expect("document");
    let mut roots = document.children;
    assert_eq!(roots.len(), 1, "expected one root element in:\n{text}");
    roots.remove(0)
}

fn open(start: &quick_xml::events::BytesStart<'_>) -> Element {
    let name = String::from_utf8(start.name().as_ref().to_vec()).expect("UTF-8 name");
    let attributes = start
        .attributes()
        .map(|attribute| {
            let attribute = attribute.expect("valid attribute");
            let key = String::from_utf8(attribute.key.as_ref().to_vec()).expect("UTF-8 key");
            let value = attribute
                .unescape_value()
                .expect("valid value")
                .into_owned();
            (key, value)
        })
        .collect();
    Element {
        name,
        attributes,
        ..Element::default()
    }
}

/// Returns the ids of the POLICY elements of a policy list document.
pub fn policy_ids(root: &Element) -> Vec<u64> {
    match root.at("RESPONSE/POLICY_LIST") {
        Some(list) => list
            .children_named("POLICY")
            .iter()
            .map(|policy| policy.text_at("ID").parse().expect("numeric ID"))
            .collect(),
        None => Vec::new(),
    }
}

/// Returns the ids of the CONTROL elements of a control list document.
pub fn control_ids(root: &Element) -> Vec<u64> {
    match root.at("RESPONSE/CONTROL_LIST") {
        Some(list) => list
            .children_named("CONTROL")
            .iter()
            .map(|control| control.text_at("ID").parse().expect("numeric ID"))
            .collect(),
        None => Vec::new(),
    }
}

/// Returns the CONTROL elements of an export document, section by section, each with the
/// number of its section.
pub fn export_controls(root: &Element) -> Vec<(String, Element)> {
    let sections = root
        .at("RESPONSE/POLICY/SECTIONS")
        .unwrap_or_else(|| panic!("no SECTIONS in {}", root.name));
    let mut controls = Vec::new();
    for section in sections.children_named("SECTION") {
        let number = section.text_at("NUMBER");
        let list = section.child("CONTROLS").expect("CONTROLS in SECTION");
        for control in list.children_named("CONTROL") {
            controls.push((number.clone(), control.clone()));
        }
    }
    controls
}

/// Returns the names of an element's children in order.
pub fn child_names(element: &Element) -> Vec<&str> {
    element
        .children
        .iter()
        .map(|child| child.name.as_str())
        .collect()
}
